"""Rule evaluate_vision_plots: trajectory vs truth, error over time and detections drawn on frames, one scene."""
from ball3d.evaluation.phase import run_evaluate_vision_plots
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    inp, out = smk.input, smk.output
    run_evaluate_vision_plots(inp.tracks, inp.truth, inp.detections, inp.get("cameras"), smk.params.camera_source,
                              smk.params.frame, {k: out[k] for k in ("trajectory", "errors", "detections")})
    log.info("plots written: %s", list(out))
