"""Rule calibrate_scene: calibrate every camera of one scene; writes <cam>.json files and report.json."""
from pathlib import Path

from ball3d.calibration.phase import calibrate_scene
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    scene_dir = Path(snakemake.input[0]).parent  # noqa: F821  (truth.json of the scene)
    params = snakemake.params  # noqa: F821
    report = calibrate_scene(scene_dir, params.cams, params.cfg, snakemake.output[0], params.rig)  # noqa: F821
    for cam in report["cameras"]:
        log.info("%s: rms %.3f px, line residual %s px; vs truth %s", cam["camera"], cam["rms_px"],
                 cam.get("line_residual_px"), cam.get("errors_vs_truth"))
