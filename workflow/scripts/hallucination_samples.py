"""Rule hallucination_samples: truthful vs hallucinated items of one dataset, split into question folds."""
import torch

from avss.eavss.samples import SamplesConfig, write_samples
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    torch.set_num_threads(snakemake.threads)  # noqa: F821
    model = snakemake.input.get("model")  # noqa: F821
    summary = write_samples(snakemake.wildcards.dataset, snakemake.input.data,  # noqa: F821
                            model[0] if isinstance(model, list) and model else model,
                            SamplesConfig(**snakemake.params.cfg), snakemake.output.samples,  # noqa: F821
                            snakemake.output.summary, list(snakemake.output.eval))  # noqa: F821
    log.info("%s: %d questions, %d truthful and %d hallucinated items", summary["dataset"], summary["questions"],
             summary["truthful"], summary["hallucinated"])
