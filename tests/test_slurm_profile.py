"""profiles/slurm as Snakemake reads it, and the GPU resource of the rules (README "Running on a cluster").

The run through a real SLURM is `make cluster-test` (tools/cluster/cluster_test.sh), not part of
`make test`: it needs root, apt-get and a few minutes.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.profiles import ProfileConfigFileParser

from repo_copy import ROOT, copy_repo

PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
BIN = Path(sys.executable).parent
# Rules whose measured peak RSS exceeds Snakemake's default estimate (twice the input size, at least
# 1000 MB; a directory input such as results/download/model counts as 4 kB): they declare mem_mb.
MEM_RULES = {"download_model", "capture_stats", "capture_ppl_drop", "capture_sites", "evaluate_pruning", "layer_damage",
             "hallucination_samples",
             "eavss_capture", "finetune", "evaluate_hallucination_base", "evaluate_hallucination_run",
             "evaluate_hallucination_dola", "train_detector", "detect_scene", "live_scene"}
GPU_RULES = {"capture_stats", "capture_ppl_drop", "capture_sites", "prune_model", "evaluate_pruning", "layer_damage",
             "evaluate_hallucination_base", "evaluate_hallucination_run", "evaluate_hallucination_dola",
             "train_detector", "detect_scene", "preprocess_scene", "live_scene"}


def parse_profile(monkeypatch, **env) -> dict:
    for key in ("PIPELINE_SLURM_PARTITION", "PIPELINE_SLURM_ACCOUNT", "PIPELINE_SLURM_RUNTIME"):
        monkeypatch.delenv(key, raising=False)
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    with open(PROFILE) as fh:
        return ProfileConfigFileParser().parse(fh)


def resources(parsed: dict) -> dict:
    return dict(item.split("=", 1) for item in parsed["default-resources"])


def test_profile_fits_a_small_node_as_shipped(monkeypatch):
    parsed = parse_profile(monkeypatch)
    res = resources(parsed)
    assert parsed["executor"] == "slurm"
    # CPUs follow each rule's threads: no fixed cpus_per_task (4 CPUs stayed PENDING on a 2-CPU node)
    assert not {"cpus_per_task", "cpus_per_gpu", "slurm_partition", "slurm_account"} & res.keys()
    assert res["mem_mb"] == "min(max(2 * input.size_mb, 1000), 8000)" and res["runtime"] == "60"
    assert parsed["slurm-status-command"] == "squeue"  # sacct fails on clusters without accounting
    text = PROFILE.read_text()
    assert "set-resources" not in parsed and not re.search(r"^[^#]*--gres", text, re.M)  # the plugin rejects --gres


def test_profile_takes_site_settings_from_the_environment(monkeypatch):
    res = resources(parse_profile(monkeypatch, PIPELINE_SLURM_PARTITION="all", PIPELINE_SLURM_ACCOUNT="lab1",
                                  PIPELINE_SLURM_RUNTIME="240"))
    # quoted, so that a partition named like a Python builtin ("all") stays a string when evaluated
    assert res["slurm_partition"] == "'all'" and res["slurm_account"] == "'lab1'" and res["runtime"] == "240"


def _dry_run_resources(repo: Path, *extra: str, name: str = "gpu") -> dict[str, set[str]]:
    """rule -> the set of its jobs' values of resource ``name`` in a dry run of the whole DAG ('-': unset)."""
    out = subprocess.run([str(BIN / "snakemake"), "-n", "--cores", "1", "--forceall", *extra], cwd=repo,
                         capture_output=True, text=True, check=True).stdout
    found: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if m:
            val = re.search(rf"resources:.*\b{name}=([^,\s]+)", block)
            found.setdefault(m.group(1), set()).add(val.group(1) if val else "-")
    return found


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("repo"))


def test_gpu_resource_follows_the_device_params(repo):
    gpu_params = repo / "gpu.yaml"
    gpu_params.write_text(yaml.safe_dump({
        "capture": {"device": "cuda:1"}, "prune": {"device": "cuda"}, "evaluate_pruning": {"device": "cuda"},
        "evaluate_hallucination": {"device": "cuda"}, "train_detector": {"device": "cuda"},
        "detect": {"device": "cuda"}, "preprocess": {"backend": "gpu"}}))
    default = _dry_run_resources(repo)
    assert all(default[r] == {"0"} for r in GPU_RULES), {r: default[r] for r in GPU_RULES}
    assert all(v == {"-"} for r, v in default.items() if r not in GPU_RULES)
    cuda = _dry_run_resources(repo, "--configfile", str(gpu_params))
    assert all(cuda[r] == {"1"} for r in GPU_RULES), {r: cuda[r] for r in GPU_RULES}
    assert all(v == {"-"} for r, v in cuda.items() if r not in GPU_RULES)


def test_heavy_rules_declare_their_memory_and_fit_a_4gb_node(repo):
    mem = _dry_run_resources(repo, name="mem_mb")
    declared = {r for r, v in mem.items() if all(x.isdigit() for x in v)}
    assert declared == MEM_RULES, declared ^ MEM_RULES
    assert all(1500 <= int(x) <= 4000 for r in declared for x in mem[r])  # README: nodes with >= 4 GB
