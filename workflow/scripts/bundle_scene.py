"""Rule bundle_scene: associate detections across cameras and solve the 3D track of one scene (every method)."""
from ball3d.fusion.phase import run_bundle_scene
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    inp = smk.input
    payload, timing = run_bundle_scene(inp.truth, inp.get("cameras"), inp.detections, smk.params.cfg,
                                       smk.output.tracks, smk.output.timing)
    log.info("association %s; fusion %.3f ms/frame", payload["association"], timing["fusion_ms_per_frame"])
