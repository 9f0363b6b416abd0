"""Rule detect_metrics: precision / recall / F1 per detector, camera and subset over the detected scenes."""
from ball3d.detection.phase import run_detect_metrics
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    res = run_detect_metrics(list(smk.input.truth), list(smk.input.detections), smk.params.detectors,
                             smk.params.detect, smk.output.metrics, smk.output.plot)
    for name, m in res["detectors"].items():
        log.info("%s: F1 %.3f; %s", name, m["overall"]["f1"], {k: v["f1"] for k, v in m["subsets"].items()})
