"""Rule score_plots: per-layer scores of every method and the AVSS components."""
from avss.pruning.plots import plot_scores_file
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output):  # noqa: F821
    plot_scores_file(snakemake.input.json, snakemake.output.per_layer, snakemake.output.avss)  # noqa: F821
