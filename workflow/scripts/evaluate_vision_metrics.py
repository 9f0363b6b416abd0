"""Rule evaluate_vision_metrics: per-scene 3D metrics of every method against truth, headline figures, table."""
from ball3d.evaluation.phase import run_evaluate_vision_metrics
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    d3 = smk.params.detection_3d
    detections = None
    if d3["enabled"]:
        detections = {"paths": list(smk.input.detections), "camera_dirs": list(smk.params.camera_dirs),
                      "method": d3["method"], "radius_px": d3["radius_px"], "metric_params": dict(smk.params.metric_params)}
    out = run_evaluate_vision_metrics(list(smk.input.tracks), list(smk.input.truth), smk.output.metrics,
                                      smk.output.table, smk.params.table_methods, list(smk.input.live), detections)
    log.info("%d scenes evaluated", len(out["scenes"]))
