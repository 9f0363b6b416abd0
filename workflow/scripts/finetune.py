"""Rule finetune: contrastive fine-tuning of one variant's layers on one fold's training questions."""
import torch

from avss.finetune.jobs import finetune_job
from avss.finetune.train import FinetuneConfig
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    torch.set_num_threads(snakemake.threads)  # noqa: F821
    cfg = dict(snakemake.params.cfg)  # noqa: F821
    cfg["lora_targets"] = tuple(cfg["lora_targets"])
    wc = snakemake.wildcards  # noqa: F821
    info = finetune_job(snakemake.input.model, snakemake.input.plan, wc.variant, int(wc.fold),  # noqa: F821
                        list(snakemake.input.samples), FinetuneConfig(**cfg), snakemake.output.model,  # noqa: F821
                        snakemake.params.state_dir)  # noqa: F821
    log.info("%s fold %s: layers %s, %d steps, final loss %.4f", wc.variant, wc.fold, info["layers"],
             info["steps_done"], info["history"][-1]["loss"])
