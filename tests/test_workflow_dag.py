"""Smoke run of the whole DAG on tiny inputs, plus the three Snakemake/DVC user paths.

In a temporary git repo holding a copy of the working tree and the smoke parameters:
1. `snakemake --cores 2` runs every phase; `snakemake --report` works; `dvc commit -f`, `dvc push`.
2. Changing one parameter of a leaf phase makes `dvc repro` re-run that phase only.
3. A fresh clone with `dvc pull` then `snakemake --touch` has nothing left to run, byte-identical
   (the clone gets the local `file:` inputs of the smoke params copied, as a user has their own files).
"""
import copy
import filecmp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repo_copy import ROOT, copy_repo
from smoke_inputs import write_smoke_inputs

BIN = Path(sys.executable).parent
# A parameter read only by a leaf phase, and a valid new value for it.
LEAF_PARAM = ("evaluate_vision", "plot_frame", 3)


def run(cmd, cwd, check=True):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, shell=isinstance(cmd, str))
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def merge(base, over):
    out = copy.deepcopy(base)
    for key, val in over.items():
        out[key] = merge(out[key], val) if isinstance(val, dict) and isinstance(out.get(key), dict) else val
    return out


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("repo"))
    write_smoke_inputs(repo)
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()),
                   yaml.safe_load((ROOT / "tests/params.smoke.yaml").read_text()))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    remote = tmp_path_factory.mktemp("remote")
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "config", "user.email", "t@example.org"], repo)
    run(["git", "config", "user.name", "test"], repo)
    run([sys.executable, "workflow/scripts/gen_dvc.py"], repo)
    run(["dvc", "remote", "add", "-f", "-d", "local", str(remote)], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "smoke"], repo)
    run(["snakemake", "--cores", "2"], repo)
    return repo


def test_committed_dvc_yaml_is_up_to_date():
    run([sys.executable, "workflow/scripts/gen_dvc.py", "--check"], ROOT)


def test_smoke_run_produces_every_phase(smoke_repo):
    stages = yaml.safe_load((smoke_repo / "dvc.yaml").read_text())["stages"]
    assert "download" in stages
    for phase, stage in stages.items():  # every non-root phase reads an upstream phase's folder
        assert phase in ("download", "scenes") or any(d.startswith("results/") for d in stage["deps"]), phase
    for phase, stage in stages.items():
        for out in stage["outs"]:
            assert (smoke_repo / out).exists(), f"phase {phase}: {out} missing"
    assert (smoke_repo / "results/download/model/config.json").is_file()
    assert run(["snakemake", "-n", "--cores", "1"], smoke_repo).stdout.count("Nothing to be done") == 1
    run(["snakemake", "--report", "report.html"], smoke_repo)
    assert "manifest.tsv" in (smoke_repo / "report.html").read_text(errors="replace")


def test_dvc_paths(smoke_repo, tmp_path):
    run(["dvc", "commit", "-f", "-q"], smoke_repo)
    assert "up to date" in run(["dvc", "status"], smoke_repo).stdout
    run(["dvc", "push", "-q"], smoke_repo)
    run(["git", "add", "-A"], smoke_repo)
    run(["git", "commit", "-qm", "lock"], smoke_repo)

    # 3. fresh clone + dvc pull + snakemake --touch: nothing to run, identical bytes
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(smoke_repo), str(clone)], tmp_path)
    shutil.copytree(smoke_repo / "tests/_smoke", clone / "tests/_smoke")  # the local (file:) inputs: not in git
    run(["dvc", "pull", "-q"], clone)
    run(["snakemake", "--touch", "--cores", "1"], clone)
    assert "Nothing to be done" in run(["snakemake", "-n", "--cores", "1"], clone).stdout
    diffs = _differences(filecmp.dircmp(smoke_repo / "results", clone / "results"))
    assert not diffs, f"pulled results differ from the originals: {diffs[:10]}"

    # 2. change one leaf parameter -> dvc repro re-runs that phase only
    section, key, value = LEAF_PARAM
    params = yaml.safe_load((smoke_repo / "params.yaml").read_text())
    params[section][key] = value
    (smoke_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro"], smoke_repo).stdout
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    assert ran == {section}, f"expected only {section!r} to re-run, got {ran}:\n{out}"


def _differences(cmp) -> list[str]:
    """Paths that exist on one side only or whose bytes differ."""
    out = [f"{cmp.left}/{n} (only original)" for n in cmp.left_only]
    out += [f"{cmp.right}/{n} (only clone)" for n in cmp.right_only]
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    out += [f"{cmp.left}/{n} (differs)" for n in mismatch + errors]
    for sub in cmp.subdirs.values():
        out += _differences(sub)
    return out
