"""Rule calibrate_summary: errors of every calibrated camera against ground truth, as JSON and a plot."""
from pathlib import Path

from ball3d.calibration.phase import summarise
from ball3d.calibration.plots import calibration_errors
from ball3d.scenes.plots import load_json
from pipeutil.cli import rule_logging
from pipeutil.io import write_json

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    reports = [load_json(Path(d) / "report.json") for d in snakemake.input]  # noqa: F821
    summary = summarise(reports)
    write_json(snakemake.output.summary, summary)  # noqa: F821
    calibration_errors(summary, snakemake.output.plot)  # noqa: F821
    log.info("%s", {k: v for k, v in summary.items() if k != "per_camera"})
