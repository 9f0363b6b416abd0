"""Rule evaluate_vision_live: live tracker latencies per stage (pooled), frame sets/s, live beside batch."""
from ball3d.evaluation.phase import run_evaluate_vision_live
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    out = run_evaluate_vision_live(list(smk.input.records), smk.input.metrics, smk.output.latency, smk.output.page)
    log.info("latency ms per stage: %s", {k: (round(v["p50"], 2), round(v["p95"], 2)) for k, v in out["latency_ms"].items()})
