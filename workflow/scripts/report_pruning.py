"""Rule report_pruning: evaluations.json -> retention table, DVC metrics, plots and summary."""
from avss.pruning.report import report_pruning
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    out = {k: snakemake.output[k] for k in  # noqa: F821
           ("csv", "metrics", "summary", "layer_scores", "retention", "heatmap")}
    rows = report_pruning(snakemake.input.json, out, snakemake.params.summary)  # noqa: F821
    log.info("%d table rows written", len(rows))
