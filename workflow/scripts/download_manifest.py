"""Rule download_manifest: merge the per-input entries into results/download/manifest.{json,tsv}."""
from pathlib import Path

from avss.data.phase import write_manifest
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    entries = {Path(p).name.split(".")[0]: p for p in snakemake.input.datasets}  # noqa: F821
    manifest = write_manifest(snakemake.input.model, entries, snakemake.output.json,  # noqa: F821
                              snakemake.output.tsv)  # noqa: F821
    log.info("manifest: model + %d datasets", len(manifest["datasets"]))
