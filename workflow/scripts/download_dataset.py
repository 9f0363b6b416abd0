"""Rule download_dataset: fetch one dataset, normalise it, write it with its manifest entry."""
from avss.data.phase import download_dataset
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    name = snakemake.wildcards.name  # noqa: F821
    entry = download_dataset(name, snakemake.params.cfg, snakemake.params.download,  # noqa: F821
                             snakemake.output.data, snakemake.output.entry)  # noqa: F821
    log.info("%s: %s rows from %s", name, entry["rows"], entry["source"])
