"""Rule hallucination_samples: truthful vs hallucinated items of one dataset, split into question folds."""
import torch

from avss.eavss.phase import run_hallucination_samples
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    torch.set_num_threads(smk.threads)
    model = smk.input.get("model")  # [] for the datasets labelled without the model
    model = model[0] if isinstance(model, list) and model else model or None
    summary = run_hallucination_samples(smk.wildcards.dataset, smk.input.data, model,
                                        smk.params.cfg, smk.output.samples, smk.output.summary, list(smk.output.eval))
    log.info("%s: %d questions, %d truthful and %d hallucinated items", summary["dataset"], summary["questions"],
             summary["truthful"], summary["hallucinated"])
