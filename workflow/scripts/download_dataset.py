"""Rule download_dataset: fetch one dataset, normalise it, write it with its manifest entry."""
from avss.data.phase import run_download_dataset
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    name = smk.wildcards.name
    entry = run_download_dataset(name, smk.params.cfg, smk.params.download, smk.output.data, smk.output.entry)
    log.info("%s: %s rows from %s", name, entry["rows"], entry["source"])
