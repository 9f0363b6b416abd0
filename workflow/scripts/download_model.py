"""Rule download_model: fetch the model source and save it as a plain Hugging Face folder."""
from avss.data.phase import download_model
from pipeutil.cli import rule_logging

with rule_logging(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    entry = download_model(snakemake.params.model, snakemake.params.download,  # noqa: F821
                           snakemake.output.model, snakemake.output.entry)  # noqa: F821
    log.info("model ready: %s, %d layers, %d parameters", entry["model_type"], entry["num_hidden_layers"],
             entry["parameters"])
