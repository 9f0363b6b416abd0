"""Rule layer_damage: the dense model and every layer removed alone on the damage items -> damage.json."""
from avss.pruning.phase import run_layer_damage
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    record = run_layer_damage(smk.input.model, smk.params.datasets_dir, smk.params.cfg, smk.output.json,
                              threads=smk.threads, timings_json=smk.output.timings)
    log.info("%d single-layer removals measured in %.1f s", record["n_layers"], record["total_seconds"])
