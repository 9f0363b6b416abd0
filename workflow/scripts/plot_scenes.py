"""Rule plot_scenes: camera layout around the pitch and one frame per camera with the true ball."""
from ball3d.scenes.phase import run_plot_scenes
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    truth = run_plot_scenes(smk.input[0], smk.params.frame, smk.output.layout, smk.output.frames)  # input 0: truth.json
    log.info("plots of scene %s written", truth["scene_id"])
