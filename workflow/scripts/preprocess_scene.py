"""Rule preprocess_scene: pre-process every camera video of one scene with its calibrated camera."""
from pathlib import Path

from ball3d.preprocess.phase import preprocess_scene
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    inp = snakemake.input  # noqa: F821
    scene_dir = Path(inp.scene[0]).parent  # truth.json of the scene
    summary = preprocess_scene(scene_dir, inp.cameras, snakemake.params.cams, snakemake.params.cfg,  # noqa: F821
                               snakemake.output[0])  # noqa: F821
    log.info("%s", summary["cameras"])
