"""Rule real_scene_video: one video of a real scene (params scenes.real), re-encoded as MJPG/AVI."""
from ball3d.scenes.phase import run_real_scene_video
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    info = run_real_scene_video(smk.params.job, smk.output[0])
    log.info("%s (%s): %s", smk.params.job["where"], smk.params.job["source"], info)
