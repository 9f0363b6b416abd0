"""Rule evaluate_vision_metrics: RMSE / p95 / coverage of every 3D method on every scene against truth."""
from ball3d.evaluation.phase import run_metrics
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    out = run_metrics(list(snakemake.input.tracks), list(snakemake.input.truth), snakemake.output.metrics)  # noqa: F821
    log.info("%d scenes evaluated", len(out["scenes"]))
