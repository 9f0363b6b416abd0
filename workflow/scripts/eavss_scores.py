"""Rule eavss_scores: HSAV, HSS and EAVSS per layer and fold, top-k selection, plot beside AVSS."""
from avss.eavss.capture import score_and_plot
from avss.eavss.scores import EavssConfig
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    out = score_and_plot(list(snakemake.input.captures), p.folds, EavssConfig(**p.score), p.variance_axis,  # noqa: F821
                         p.sparsity_mode, p.sparsity_value, snakemake.input.avss, p.avss_method,  # noqa: F821
                         snakemake.output.scores, snakemake.output.plot)  # noqa: F821
    for fold, sc in out["folds"].items():
        log.info("fold %s: EAVSS-selected layers %s (ranking %s)", fold, sc["selected"], sc["ranking"][:8])
