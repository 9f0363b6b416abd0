"""Rule live_overlay: overlay video per camera (detections, reprojected live track, trail) and a top view."""
from ball3d.live.phase import run_live_overlay
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    inp = smk.input
    run_live_overlay(inp.truth, inp.calib, inp.track, inp.records, smk.params.trail,
                     dict(zip(smk.params.cams, smk.output.videos)), smk.output.top)
    log.info("overlay videos %s, top view %s", list(smk.output.videos), smk.output.top)
