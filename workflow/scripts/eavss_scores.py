"""Rule eavss_scores: HSAV, HSS and EAVSS per layer and fold, top-k selection, plot beside AVSS."""
from avss.eavss.phase import run_eavss_scores
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    p = smk.params
    out = run_eavss_scores(list(smk.input.captures), p.folds, p.score, p.variance_axis, p.sparsity_mode,
                           p.sparsity_value, smk.input.avss, p.avss_method, smk.output.scores, smk.output.plot)
    for fold, sc in out["folds"].items():
        log.info("fold %s: EAVSS-selected layers %s (ranking %s)", fold, sc["selected"], sc["ranking"][:8])
