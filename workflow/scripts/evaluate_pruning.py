"""Rule evaluate_pruning: dense + every (method, ratio) pruned model on all tasks -> evaluations.json."""
from avss.pruning.phase import run_evaluate_pruning
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    record = run_evaluate_pruning(smk.input.model, smk.input.scores, smk.params.datasets_dir, smk.params.cfg,
                                  smk.output.json, threads=smk.threads, timings_json=smk.output.timings,
                                  protect=tuple(smk.params.protect), state_root=smk.params.heal_state)
    log.info("%d distinct models evaluated in %.1f s", len(record["evaluations"]), record["total_seconds"])
