"""Rule score_plots: per-layer scores of every method and the AVSS components."""
from avss.pruning.phase import run_score_plots
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    run_score_plots(smk.input.json, smk.output.per_layer, smk.output.avss)
    log.info("plots written: %s", list(smk.output))
