"""Rule download_model: fetch the model source and save it as a plain Hugging Face folder."""
from avss.data.phase import run_download_model
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    entry = run_download_model(smk.params.model, smk.params.download, smk.output.model, smk.output.entry)
    log.info("model ready: %s, %d layers, %d parameters", entry["model_type"], entry["num_hidden_layers"],
             entry["parameters"])
