"""Rule detect_scene: top-K ball candidates per frame and camera of one scene, with one detector."""
from ball3d.detection.phase import run_detect_scene
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    inp, par, wc = smk.input, smk.params, smk.wildcards
    res = run_detect_scene(inp.truth, inp.get("prep"), inp.get("calib"), inp.get("model"), wc.detector, par.train,
                           par.detect, par.association, smk.threads, smk.output.detections, smk.output.timing)
    log.info("%s: %d cameras; %s", wc.scene_id, len(res["per_camera"]), res["meta"].get("stats", ""))
