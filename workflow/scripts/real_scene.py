"""Rule real_scene: check a real scene's imported videos together, write landmarks_px.json and truth.json."""
from ball3d.scenes.phase import run_real_scene
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    scene, truth = run_real_scene(smk.params.entry, smk.params.index, smk.output.truth, smk.output.landmarks)
    log.info("real scene %s: %d cameras x %d frames at %.3f fps", scene.scene_id, len(truth["per_camera"]),
             truth["n_frames"], truth["fps"])
