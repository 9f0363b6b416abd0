"""Rule bundle_scene: associate detections across cameras and solve the 3D track of one scene (every method)."""
from ball3d.fusion.phase import run_bundle
from pipeutil.cli import rule_logging
from pipeutil.io import write_json

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    inp, out = snakemake.input, snakemake.output  # noqa: F821
    timing: dict = {}
    payload = run_bundle(inp.truth, inp.get("cameras"), inp.detections, snakemake.params.cfg, timing)  # noqa: F821
    write_json(out.tracks, payload)
    write_json(out.timing, timing)  # wall clock: a declared timing file (pipeutil.io.TIMING_FILES)
    log.info("association %s; fusion %.3f ms/frame", payload["association"], timing["fusion_ms_per_frame"])
