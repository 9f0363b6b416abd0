"""Rule eavss_capture: activation statistics of truthful and of hallucinated items (one fold's training questions)."""
import torch

from avss.eavss.phase import run_eavss_capture
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    torch.set_num_threads(smk.threads)
    out = smk.output
    counts = run_eavss_capture(smk.input.model, list(smk.input.samples), int(smk.wildcards.fold), smk.params.cfg,
                               {"truthful": (out.truthful_npz, out.truthful_json),
                                "hallucinated": (out.hallucinated_npz, out.hallucinated_json)})
    log.info("fold %s: captured %s items per class", smk.wildcards.fold, counts)
