"""Rule train_detector: train the heatmap detector on the training scenes and validate it on the val scenes."""
from ball3d.detection.phase import run_train_detector
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    inp, out = smk.input, smk.output
    split = {s: {k: inp.get(f"{s}_{k}") for k in ("truth", "prep", "calib")} for s in ("train", "val")}
    report = run_train_detector(split["train"], split["val"], smk.params.train, smk.params.detect, smk.threads,
                                out.model, out.report, out.curve, out.timing)
    log.info("checkpoint %s (sha256 %s); val F1 %s", out.model, report["sha256"],
             report["val_metrics"].get("overall", {}).get("f1"))
