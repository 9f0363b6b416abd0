"""Rule real_scene_video: one video of a real scene (params scenes.real), re-encoded as MJPG/AVI."""
from ball3d.scenes.real import import_video
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    job = snakemake.params.job  # noqa: F821
    info = import_video(job, snakemake.output[0])  # noqa: F821
    log.info("%s (%s): %s", job["where"], job["source"], info)
