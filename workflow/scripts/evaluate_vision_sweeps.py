"""Rule evaluate_vision_sweeps: synthetic sweeps (cameras, noise, false detections, time skew) and target checks."""
from ball3d.evaluation.phase import run_sweeps_phase
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    out = snakemake.output  # noqa: F821
    res = run_sweeps_phase(snakemake.params.cfg, snakemake.params.solver, out.sweeps, out.plot, out.timing)  # noqa: F821
    log.info("%d sweep rows; targets %s", len(res["sweeps"]), {k: v["pass"] for k, v in res["targets"].items()})
