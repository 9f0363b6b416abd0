"""Rule capture_ppl_drop: perplexity of the dense model and with each layer removed alone."""
from avss.capture.phase import run_capture_ppl_drop
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    res = run_capture_ppl_drop(smk.input.model, smk.input.text, smk.params.cfg, smk.output.json)
    log.info("dense perplexity %.3f; worst single removal %.3f", res["dense"], max(res["without"]))
