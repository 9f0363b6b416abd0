"""Rule detect_scene: top-K ball candidates per frame and camera of one scene, with one detector."""
from ball3d.detection.phase import checkpoint_path, configs, run_detect, scene_inputs
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    inp, out, par, wc = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards  # noqa: F821
    _, _, dp, cp, _ = configs(par.train, par.detect)
    prep, calib = inp.get("prep"), inp.get("calib")
    scene = scene_inputs([inp.truth], [prep] if prep else None, [calib] if calib else None)[0]
    model = checkpoint_path(par.detect, inp.get("model")) if wc.detector == "heatmap" else None
    res = run_detect(scene, out.detections, wc.detector, model, dp, cp, threads=snakemake.threads,  # noqa: F821
                     assoc=par.association, timing_path=out.timing)
    log.info("%s: %d cameras; %s", wc.scene_id, len(res["per_camera"]), res["meta"].get("stats", ""))
