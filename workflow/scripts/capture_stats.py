"""Rule capture_stats: streamed per-layer activation statistics over the wiki calibration windows."""
from avss.capture.phase import run_capture_stats
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    meta = run_capture_stats(smk.input.model, smk.input.text, smk.params.cfg, smk.output.npz, smk.output.json)
    log.info("stats of %d layers (%s) over %d tokens", meta["n_layers"], meta["layer_path"], meta["n_tokens"])
