"""Rule evaluate_hallucination_report: metrics.json (DVC metrics), change table, plot and generated summary."""
from avss.finetune.evaluate import write_report
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    out = snakemake.output  # noqa: F821
    res = write_report(list(snakemake.input.runs), snakemake.params.metrics, out.metrics, out.md,  # noqa: F821
                       out.summary, out.plot)
    for comp in res["comparisons"]:
        log.info("EAVSS vs %s: %d wins, %d losses, mean difference %s", comp["control"], comp["wins"],
                 comp["losses"], comp["mean_abs"])
