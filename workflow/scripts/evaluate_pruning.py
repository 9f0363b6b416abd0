"""Rule evaluate_pruning: dense + every (method, ratio) pruned model on all tasks -> evaluations.json."""
from avss.pruning.sweep import run_evaluate_pruning
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    record = run_evaluate_pruning(snakemake.input.model, snakemake.input.scores,  # noqa: F821
                                  snakemake.params.datasets_dir, snakemake.params.cfg,  # noqa: F821
                                  snakemake.output.json, threads=snakemake.threads,  # noqa: F821
                                  timings_json=snakemake.output.timings)  # noqa: F821
    log.info("%d distinct models evaluated in %.1f s", len(record["evaluations"]), record["total_seconds"])
