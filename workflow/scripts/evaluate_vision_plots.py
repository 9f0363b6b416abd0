"""Rule evaluate_vision_plots: trajectory vs truth, error over time and detections drawn on frames, one scene."""
from ball3d.evaluation.phase import run_plots
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    inp, out = snakemake.input, snakemake.output  # noqa: F821
    run_plots(inp.tracks, inp.truth, inp.detections, inp.get("cameras"), snakemake.params.camera_source,  # noqa: F821
              snakemake.params.frame, {"trajectory": out.trajectory, "errors": out.errors,  # noqa: F821
                                       "detections": out.detections})
    log.info("plots written: %s", list(out))
