"""Rule finetune_plan: the trainable layers of every variant and fold (EAVSS, random, AVSS top-k, all)."""
from avss.finetune.jobs import write_plan
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    plan = write_plan(snakemake.input.eavss, snakemake.input.avss, p.variants, p.k, p.seed,  # noqa: F821
                      snakemake.output.plan, p.avss_method)  # noqa: F821
    for variant, folds in plan["variants"].items():
        log.info("%s: %s", variant, folds)
