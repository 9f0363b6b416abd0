"""Rule capture_ppl_drop: perplexity of the dense model and with each layer removed alone."""
from avss.capture.phase import run_ppl_drop
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    res = run_ppl_drop(snakemake.input.model, snakemake.input.text, snakemake.params.cfg,  # noqa: F821
                       snakemake.output.json)  # noqa: F821
    log.info("dense perplexity %.3f; worst single removal %.3f", res["dense"], max(res["without"]))
