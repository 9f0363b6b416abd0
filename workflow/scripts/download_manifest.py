"""Rule download_manifest: merge the per-input entries into results/download/manifest.{json,tsv}."""
from pathlib import Path

from avss.data.phase import run_download_manifest
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    entries = {Path(p).name.split(".")[0]: p for p in smk.input.datasets}
    manifest = run_download_manifest(smk.input.model, entries, smk.output.json, smk.output.tsv)
    log.info("manifest: model + %d datasets", len(manifest["datasets"]))
