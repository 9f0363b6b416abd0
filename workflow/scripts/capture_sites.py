"""Rule capture_sites: every activation site of every block in one pass over one calibration text."""
from avss.capture.phase import run_capture_sites
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    meta = run_capture_sites(smk.input.model, smk.params.datasets_dir, smk.wildcards.calibration, smk.params.cfg,
                             smk.output.npz, smk.output.json)
    log.info("sites %s of %d layers over %d tokens", meta["sites"], meta["n_layers"], meta["n_tokens"])
