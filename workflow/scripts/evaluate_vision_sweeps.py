"""Rule evaluate_vision_sweeps: synthetic sweeps (cameras, noise, false detections, time skew) and target checks."""
from ball3d.evaluation.phase import run_evaluate_vision_sweeps
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    out = smk.output
    res = run_evaluate_vision_sweeps(smk.params.cfg, smk.params.solver, out.sweeps, out.plot, out.timing)
    log.info("%d sweep rows; targets %s", len(res["sweeps"]), {k: v["pass"] for k, v in res["targets"].items()})
