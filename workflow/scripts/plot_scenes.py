"""Rule plot_scenes: camera layout around the pitch and one frame per camera with the true ball."""
from pathlib import Path

from ball3d.scenes.plots import camera_layout, frames_with_ball, load_json
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output):  # noqa: F821
    truth_path = Path(snakemake.input[0])  # noqa: F821
    truth = load_json(truth_path)
    camera_layout(truth, snakemake.output.layout)  # noqa: F821
    frames_with_ball(truth_path.parent, truth, min(snakemake.params.frame, truth["n_frames"] - 1),  # noqa: F821
                     snakemake.output.frames)  # noqa: F821
