"""Rule bundle_scene: associate detections across cameras and solve the 3D track of one scene (every method)."""
from ball3d.solve3d import run_bundle
from pipeutil.cli import rule_logging
from pipeutil.io import write_json

with rule_logging(snakemake.log[0]) as log:  # noqa: F821
    inp = snakemake.input  # noqa: F821
    payload = run_bundle(inp.truth, inp.get("cameras"), inp.detections, snakemake.params.cfg)  # noqa: F821
    write_json(snakemake.output.tracks, payload)  # noqa: F821
    log.info("association %s; fusion %.3f ms/frame; timing %s", payload["association"],
             payload["fusion_ms_per_frame"], payload["timing_s"])
