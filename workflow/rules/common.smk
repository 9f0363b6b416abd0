# Decisions shared by both branches: parameter validation, phase registry, helpers.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from pipeutil.params import validate_params  # noqa: E402
from pipeutil.sources import local_inputs  # noqa: E402

validate_params(
    config, Path(workflow.basedir) / "workflow" / "schemas", files=PARAM_FILES
)

# phase name -> list of its final outputs; filled by each rule file, read by `rule all`
# and by workflow/scripts/gen_dvc.py (through `snakemake --detailed-summary`).
PHASE_TARGETS = {}


def register_phase(name, outputs):
    """Declare the final outputs of phase ``name`` (all under results/<name>/)."""
    for out in outputs:
        assert str(out).startswith(
            f"results/{name}/"
        ), f"{out} is outside results/{name}/"
    PHASE_TARGETS[name] = list(outputs)
    return PHASE_TARGETS[name]


def all_phase_targets():
    return [out for outs in PHASE_TARGETS.values() for out in outs]


def file_inputs(value, where):
    """Snakemake inputs of every `file:` source in the params value ``value`` (named ``where`` in errors):
    each file, and each folder followed by every file below it, so that editing a local dataset or
    replacing model weights re-runs the job (Snakemake compares times); dvc.yaml gets the folder as a dep.
    A path outside the project is refused unless download.allow_outside_project is true.
    """
    allow = config["download"].get("allow_outside_project", True)
    return local_inputs(value, ".", allow, where)


def log_of(rule_name, stem="log"):
    return f"logs/{rule_name}/{stem}.log"


def bench_of(rule_name, stem="benchmark"):
    return f"logs/{rule_name}/{stem}.tsv"


def gpus_for(device):
    """Resource `gpu` of a job, which the SLURM plugin turns into --gpus; 1 when its params ask
    for CUDA (device cuda / cuda:N, preprocess backend gpu), else 0; `auto` never asks one.
    """
    return int(str(device).startswith("cuda") or device == "gpu")
