"""Rules evaluate_hallucination_base / _run: one model (base, or a fine-tuned variant and seed) on one fold's held-out questions."""
import torch

from avss.finetune.phase import run_evaluate_hallucination_run
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    torch.set_num_threads(smk.threads)
    wc, p = smk.wildcards, smk.params
    variant = wc.get("variant", "base")  # rule evaluate_hallucination_base has no variant / seed wildcard
    ft_seed = int(wc.seed) if "seed" in wc.keys() else None
    base = smk.input.get("base", smk.input.model)
    out = run_evaluate_hallucination_run(smk.input.model, base, variant, int(wc.fold), p.eval_dir, p.tasks,
                                         smk.output.run, p.seed, p.backend, ft_seed)
    for task, res in out["results"].items():
        log.info("%s seed %s fold %s %s: %s (n=%d)", variant, ft_seed, wc.fold, task, res["metrics"], res["n"])
