"""Rule train_detector: train the heatmap detector on the training scenes and validate it on the val scenes."""
from ball3d.detection.phase import configs, run_train, scene_inputs
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    net, tp, dp, _, mp = configs(par.train, par.detect)
    tp.threads = snakemake.threads  # noqa: F821
    train = scene_inputs(inp.train_truth, inp.get("train_prep"), inp.get("train_calib"))
    val = scene_inputs(inp.val_truth, inp.get("val_prep"), inp.get("val_calib"))
    report = run_train(train, val, out.model, out.report, out.curve, net, tp, dp, mp, out.timing)
    log.info("checkpoint %s (sha256 %s); val F1 %s", out.model, report["sha256"],
             report["val_metrics"].get("overall", {}).get("f1"))
