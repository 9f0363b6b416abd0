"""Rule finetune_plan: the trainable layers of every variant and fold (EAVSS, random, AVSS top-k, all)."""
from avss.finetune.phase import run_finetune_plan
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    p = smk.params
    plan = run_finetune_plan(smk.input.eavss, smk.input.avss, p.variants, p.k, p.seeds, smk.output.plan,
                             p.avss_method)
    for variant, folds in plan["variants"].items():
        log.info("%s: %s", variant, folds)
