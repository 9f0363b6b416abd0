"""Rule eavss_capture: activation statistics of truthful and of hallucinated items (one fold's training questions)."""
import torch

from avss.eavss.capture import ClassCaptureConfig, capture_fold
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    torch.set_num_threads(snakemake.threads)  # noqa: F821
    out = snakemake.output  # noqa: F821
    counts = capture_fold(snakemake.input.model, list(snakemake.input.samples),  # noqa: F821
                          int(snakemake.wildcards.fold), ClassCaptureConfig(**snakemake.params.cfg),  # noqa: F821
                          {"truthful": (out.truthful_npz, out.truthful_json),
                           "hallucinated": (out.hallucinated_npz, out.hallucinated_json)})
    log.info("fold %s: captured %s items per class", snakemake.wildcards.fold, counts)  # noqa: F821
