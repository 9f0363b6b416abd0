"""Rule score_layers: AVSS and the baselines from the captured statistics -> scores.json."""
from avss.pruning.phase import run_score_layers
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    scores = run_score_layers(smk.input.npz, smk.input.json, smk.input.ppl, smk.params.cfg, smk.output.json)
    for method, entry in scores.items():
        log.info("%-17s removes %s", method, entry["selected"])
