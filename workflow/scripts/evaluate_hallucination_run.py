"""Rule evaluate_hallucination_run: one fine-tuned model (variant, seed) on one fold's held-out questions."""
import torch

from avss.finetune.phase import run_evaluate_hallucination_run
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    torch.set_num_threads(smk.threads)
    wc, p = smk.wildcards, smk.params
    out = run_evaluate_hallucination_run(smk.input.model, smk.input.base, wc.variant, int(wc.fold), p.eval_dir,
                                         p.tasks, smk.output.run, p.seed, p.backend, int(wc.seed))
    for task, res in out["results"].items():
        log.info("%s seed %s fold %s %s: %s (n=%d)", wc.variant, wc.seed, wc.fold, task, res["metrics"], res["n"])
