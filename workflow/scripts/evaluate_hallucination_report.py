"""Rule evaluate_hallucination_report: metrics.json (DVC metrics), change table, plot and generated summary."""
from avss.finetune.phase import run_evaluate_hallucination_report
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    out = smk.output
    res = run_evaluate_hallucination_report(list(smk.input.runs), smk.params.metrics, out.metrics, out.md,
                                            out.summary, out.plot, smk.params.bootstrap)
    for d in res["eavss_vs"]:
        log.info("EAVSS - %s %s/%s: %+.4f [%s, %s] %s", d["control"], d["task"], d["metric"], d["diff"],
                 d["ci"]["low"], d["ci"]["high"], d["verdict"])
