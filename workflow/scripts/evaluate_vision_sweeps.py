"""Rule evaluate_vision_sweeps: synthetic sweeps (cameras, noise, false detections, time skew) and target checks."""
from ball3d.eval3d_run import run_sweeps_phase
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0]) as log:  # noqa: F821
    out = run_sweeps_phase(snakemake.params.cfg, snakemake.params.solver,  # noqa: F821
                           snakemake.output.sweeps, snakemake.output.plot)  # noqa: F821
    log.info("%d sweep rows; targets %s", len(out["sweeps"]), {k: v["pass"] for k, v in out["targets"].items()})
