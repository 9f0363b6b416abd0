"""Rule evaluate_hallucination_dola: the base model decoding with DoLa over one candidate bucket, on one fold."""
import torch

from avss.finetune.phase import run_evaluate_hallucination_dola
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    torch.set_num_threads(smk.threads)
    wc, p = smk.wildcards, smk.params
    out = run_evaluate_hallucination_dola(smk.input.model, wc.bucket, p.dola, int(wc.fold), p.eval_dir, p.tasks,
                                          smk.input.eavss, smk.output.run, p.seed, p.backend)
    log.info("dola_%s fold %s: layers %s, premature layer counts %s", wc.bucket, wc.fold, out["layers"],
             out["dola"]["premature_counts"])
    for task, res in out["results"].items():
        log.info("dola_%s fold %s %s: %s (n=%d)", wc.bucket, wc.fold, task, res["metrics"], res["n"])
