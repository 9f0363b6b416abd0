"""Rule evaluate_hallucination_report: metrics.json (DVC metrics), change table, plot and generated summary."""
from avss.finetune.phase import run_evaluate_hallucination_report
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    out = smk.output
    res = run_evaluate_hallucination_report(list(smk.input.runs), smk.params.metrics, out.metrics, out.md,
                                            out.summary, out.plot)
    for comp in res["comparisons"]:
        log.info("EAVSS vs %s: %d wins, %d losses, mean difference %s", comp["control"], comp["wins"],
                 comp["losses"], comp["mean_abs"])
