"""Rule evaluate_vision_metrics: RMSE / p95 / coverage of every 3D method on every scene against truth."""
from ball3d.evaluation.phase import run_evaluate_vision_metrics
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    out = run_evaluate_vision_metrics(list(smk.input.tracks), list(smk.input.truth), smk.output.metrics)
    log.info("%d scenes evaluated", len(out["scenes"]))
