"""Rule capture_stats: streamed per-layer activation statistics over the wiki calibration windows."""
from avss.capture.phase import run_capture
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    meta = run_capture(snakemake.input.model, snakemake.input.text, snakemake.params.cfg,  # noqa: F821
                       snakemake.output.npz, snakemake.output.json)  # noqa: F821
    log.info("stats of %d layers (%s) over %d tokens", meta["n_layers"], meta["layer_path"], meta["n_tokens"])
