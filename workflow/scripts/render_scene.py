"""Rule render_scene: render one scene (every camera's video and calibration video) and its truth.json."""
from ball3d.scenes.phase import run_render_scene
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    truth = run_render_scene(smk.params.cfg, smk.wildcards.split, smk.wildcards.scene_id, smk.output.truth)
    log.info("rendered %s: %d frames x %d cameras", truth["scene_id"], truth["n_frames"], len(truth["cameras"]))
