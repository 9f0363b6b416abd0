"""Rule preprocess_scene: pre-process every camera video of one scene with its calibrated camera."""
from ball3d.preprocess.phase import run_preprocess_scene
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    summary = run_preprocess_scene(smk.input.scene[0], smk.input.cameras, smk.params.cams, smk.params.cfg,
                                   smk.output[0])  # input scene[0]: truth.json
    log.info("%s", summary["cameras"])
