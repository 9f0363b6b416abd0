"""Rule score_layers: AVSS and the baselines from the captured statistics -> scores.json."""
from avss.pruning.phase import run_score_layers
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    sites = {name: (npz, js) for name, npz, js in zip(smk.params.calibrations, smk.input.sites_npz, smk.input.sites_json)}
    scores = run_score_layers(smk.input.npz, smk.input.json, smk.input.ppl, smk.params.cfg, smk.output.json, sites)
    for method, entry in ((m, e) for m, e in scores.items() if not m.startswith("_")):
        log.info("%-17s removes %s", method, entry["selected"])
