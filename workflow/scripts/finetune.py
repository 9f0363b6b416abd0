"""Rule finetune: contrastive fine-tuning of one variant's layers on one fold's training questions."""
import torch

from avss.finetune.phase import run_finetune
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    torch.set_num_threads(smk.threads)
    wc = smk.wildcards
    info = run_finetune(smk.input.model, smk.input.plan, wc.variant, int(wc.seed), int(wc.fold),
                        list(smk.input.samples), smk.params.cfg, smk.output.model, smk.params.state_dir)
    log.info("%s seed %s fold %s: layers %s, %d steps (%.2f epochs), final loss %.4f", wc.variant, wc.seed, wc.fold,
             info["layers"], info["steps_done"], info["epochs"], info["history"][-1]["loss"])
