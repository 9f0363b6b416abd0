"""Rule calibrate_scene: calibrate every camera of one scene; writes <cam>.json files and report.json."""
from ball3d.calibration.phase import run_calibrate_scene
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    report = run_calibrate_scene(smk.input[0], smk.params.cams, smk.params.cfg, smk.output[0], smk.params.rig)
    for cam in report["cameras"]:
        log.info("%s: rms %.3f px, line residual %s px; vs truth %s", cam["camera"], cam["rms_px"],
                 cam.get("line_residual_px"), cam.get("errors_vs_truth"))
