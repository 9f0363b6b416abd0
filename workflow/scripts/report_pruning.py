"""Rule report_pruning: evaluations.json + damage.json + scores.json -> tables, DVC metrics, plots, summary."""
from avss.pruning.phase import run_report_pruning
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    out = {k: smk.output[k] for k in ("csv", "metrics", "summary", "layer_scores", "retention", "heatmap",
                                      "proxies", "damage_csv", "calibration", "damage_ranks", "healing")}
    rows = run_report_pruning(smk.input.json, out, smk.params.cfg, smk.input.damage, smk.input.scores,
                              smk.params.calibration)
    log.info("%d table rows written", len(rows))
