"""Rule detect_metrics: precision / recall / F1 per detector, camera and subset over the detected scenes."""
from pathlib import Path

from ball3d.detection.metrics import MetricParams
from ball3d.detection.phase import run_metrics
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    scene_dirs = [str(Path(t).parent) for t in inp.truth]
    det_files = {d: [f for f in inp.detections if Path(f).name == f"{d}.json"] for d in par.detectors}
    res = run_metrics(scene_dirs, det_files, out.metrics, out.plot, MetricParams(**par.detect["metrics"]))
    for name, m in res["detectors"].items():
        log.info("%s: F1 %.3f; %s", name, m["overall"]["f1"], {k: v["f1"] for k, v in m["subsets"].items()})
