"""Rule prune_model: save the model with one method's selected layers removed (verified HF folder)."""
from avss.capture.phase import run_prune
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    rec = run_prune(snakemake.input.model, snakemake.input.scores, snakemake.wildcards.method,  # noqa: F821
                    snakemake.wildcards.sel, snakemake.params.cfg, snakemake.output.folder)  # noqa: F821
    log.info("removed layers %s: %d -> %d layers; check %s", rec["removed_layers"], rec["n_layers_before"],
             rec["n_layers_after"], rec["check"])
