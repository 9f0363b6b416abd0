"""Rule real_scene: check a real scene's imported videos together, write landmarks_px.json and truth.json."""
from pathlib import Path

from ball3d.scenes.real import finish_real_scene, parse_real
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    par, out = snakemake.params, snakemake.output  # noqa: F821
    scene = parse_real(par.entry, par.index)
    truth = finish_real_scene(scene, Path(out.truth).parent, out.truth, out.landmarks)
    log.info("real scene %s: %d cameras x %d frames at %.3f fps", scene.scene_id, len(truth["per_camera"]),
             truth["n_frames"], truth["fps"])
