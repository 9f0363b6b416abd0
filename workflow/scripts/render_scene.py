"""Rule render_scene: render one scene (every camera's video and calibration video) and its truth.json."""
from pathlib import Path

from ball3d.scenes.generate import generate_scene, scene_specs
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    cfg = snakemake.params.cfg  # noqa: F821
    wc = snakemake.wildcards  # noqa: F821
    spec = next(s for s in scene_specs(cfg) if s.split == wc.split and s.scene_id == wc.scene_id)
    truth = generate_scene(spec, cfg, Path(snakemake.output.truth).parent)  # noqa: F821
    log.info("rendered %s: %d frames x %d cameras", spec.scene_id, truth["n_frames"], len(truth["cameras"]))
