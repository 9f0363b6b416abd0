"""Rule evaluate_hallucination_run: evaluate one model (base or fine-tuned variant) on one fold's held-out questions."""
import torch

from avss.finetune.evaluate import evaluate_run
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    torch.set_num_threads(snakemake.threads)  # noqa: F821
    wc, p = snakemake.wildcards, snakemake.params  # noqa: F821
    out = evaluate_run(snakemake.input.model, snakemake.input.base, wc.variant, int(wc.fold), p.eval_dir,  # noqa: F821
                       p.tasks, snakemake.output.run, p.seed, p.backend)  # noqa: F821
    for task, res in out["results"].items():
        log.info("%s fold %s %s: %s (n=%d)", wc.variant, wc.fold, task, res["metrics"], res["n"])
