"""Rule score_layers: AVSS and the baselines from the captured statistics -> scores.json."""
from avss.capture.phase import run_score
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    scores = run_score(snakemake.input.npz, snakemake.input.json, snakemake.input.ppl,  # noqa: F821
                       snakemake.params.cfg, snakemake.output.json)  # noqa: F821
    for method, entry in scores.items():
        log.info("%-17s removes %s", method, entry["selected"])
