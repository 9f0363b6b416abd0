"""Rule calibrate_summary: errors of every calibrated camera against ground truth, as JSON and a plot."""
from ball3d.calibration.phase import run_calibrate_summary
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    summary = run_calibrate_summary(list(smk.input), smk.output.summary, smk.output.plot)
    log.info("%s", {k: v for k, v in summary.items() if k != "per_camera"})
