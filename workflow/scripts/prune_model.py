"""Rule prune_model: save the model with one method's selected layers removed (verified HF folder)."""
from avss.pruning.phase import run_prune_model
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    wc = smk.wildcards
    rec = run_prune_model(smk.input.model, smk.input.scores, wc.method, wc.sel, smk.params.cfg, smk.output.folder)
    log.info("removed layers %s: %d -> %d layers; check %s", rec["removed_layers"], rec["n_layers_before"],
             rec["n_layers_after"], rec["check"])
