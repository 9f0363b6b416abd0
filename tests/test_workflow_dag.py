"""Smoke run of the whole DAG on tiny inputs, plus the three Snakemake/DVC user paths.

In a temporary git repo holding a copy of the working tree and the smoke parameters:
1. `snakemake --cores 2` runs every phase; `snakemake --report` works; `dvc commit -f`, `dvc push`.
2. Changing one parameter of a leaf phase makes `dvc repro` re-run that phase only.
3. A fresh clone with `dvc pull` then `snakemake --touch` has nothing left to run, byte-identical
   (the clone gets the local `file:` inputs of the smoke params copied, as a user has their own files).
4. The vision phases run again from scratch give the same bytes, except the declared timing files.
"""
import copy
import filecmp
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeutil.io import TIMING_FILES
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
    report = (smoke_repo / "report.html").read_text(errors="replace")
    assert "manifest.tsv" in report
    # tables as HTML pages (the report shows HTML inline; CSV/TSV/Markdown are download-only)
    for table in ("download/tables/manifest", "evaluate_pruning/tables/retention",
                  "evaluate_pruning/tables/summary", "evaluate_hallucination/tables/table"):
        assert f"results/{table}.html" in report, table
    # docutils writes its warnings into the page ("Duplicate explicit target name" from ":" in categories)
    assert "System Message" not in report and "Duplicate explicit target" not in report


HEADLINE_PHASES = ("train_detector", "detect", "evaluate_vision", "evaluate_pruning", "evaluate_hallucination")


def test_dvc_metrics_show_fits_a_terminal_and_plots_have_data_curves(smoke_repo):
    shown = run(["dvc", "metrics", "show"], smoke_repo).stdout
    assert max(len(line) for line in shown.splitlines()) < 200, shown
    for phase in HEADLINE_PHASES:
        assert f"results/{phase}/headline.json" in shown, phase
    assert "results/detect/metrics.json" not in shown  # detail files on request:
    detail = run(["dvc", "metrics", "show", "results/detect/metrics.json"], smoke_repo).stdout
    assert "detectors.heatmap.overall.f1" in detail
    plots = json.loads(run(["dvc", "plots", "show", "--json", "-o", "dvc_plots"], smoke_repo).stdout)["data"]
    for plot_id in ("evaluate_pruning/retention_vs_ratio", "train_detector/loss_vs_step",
                    "evaluate_vision/rmse_m_vs_n_cameras"):
        assert plot_id in plots, sorted(plots)
    curve = (smoke_repo / "results/train_detector/curves/loss_vs_step/train.csv").read_text().splitlines()
    assert curve[0] == "step,loss" and len(curve) > 2


VISION_PHASES = ("scenes", "calibrate", "preprocess", "train_detector", "detect", "bundle", "live", "evaluate_vision")


def is_timing_file(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, pattern) for pattern in TIMING_FILES)


def test_vision_chain_solves_the_smoke_scene_with_the_hand_set_detector(smoke_repo):
    """Detection uses the analytic checkpoint (params.smoke.yaml detect.checkpoint): the 3D chain gets fixes
    on any CPU (measured: 19 of 20 frames; the ball is seen by all 3 cameras from frame 1 on)."""
    det = json.loads((smoke_repo / "results/detect/test/test_3000/heatmap.json").read_text())
    assert det["meta"]["checkpoint"] == "tests/_smoke/detector.pt" and det["meta"]["train_scenes"] == []
    bundle = json.loads((smoke_repo / "results/bundle/test/test_3000/heatmap.json").read_text())
    smoothed = bundle["tracks"]["graph_smoothed"]
    assert len(smoothed["frames"]) >= 10
    assert set(smoothed["meta"]["missing"]) | set(map(str, smoothed["frames"])) == {str(i) for i in range(20)}
    assert all(smoothed["meta"]["missing"].values())  # every missing frame has its reason
    metrics = json.loads((smoke_repo / "results/evaluate_vision/metrics_heatmap.json").read_text())
    assert metrics["overall"]["graph_smoothed"]["mean_coverage"] >= 0.5
    # the live tracker ran on the test scene (scored beside batch) and on the real one (tracked only)
    assert {"live_fixed_lag", "streaming_fixed_lag"} <= set(metrics["overall"]) and "rmse_ratio" in metrics["live_vs_batch"]
    real = json.loads((smoke_repo / "results/live/real/match1/track.json").read_text())
    assert real["summary"]["complete"] and real["summary"]["frame_sets"] == 20
    assert (smoke_repo / "results/live/overlay/top_view.png").stat().st_size > 0


def test_vision_phases_rerun_byte_identical_except_timing_files(smoke_repo, tmp_path):
    """Same params, same machine -> same bytes: every vision rule runs again in a copy of the smoke repo."""
    again = tmp_path / "again"
    shutil.copytree(smoke_repo, again, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    stages = yaml.safe_load((smoke_repo / "dvc.yaml").read_text())["stages"]
    rules = sorted({r for ph in VISION_PHASES for r in stages[ph]["cmd"].split("--allowed-rules ")[1].split(" --")[0]
                    .split() if not r.startswith("phase_")})
    run(["snakemake", "--cores", "2", "--forcerun", *rules, "--", *[f"phase_{ph}" for ph in VISION_PHASES]], again)
    differ, timing = [], set()
    for ph in VISION_PHASES:
        for f in sorted((smoke_repo / "results" / ph).rglob("*")):
            rel = f.relative_to(smoke_repo).as_posix()
            if f.is_dir():
                continue
            if is_timing_file(rel):
                timing.add(rel)
            elif f.read_bytes() != (again / rel).read_bytes():
                differ.append(rel)
            assert "timing" not in f.name or is_timing_file(rel), f"{rel}: a timing file not in pipeutil.io.TIMING_FILES"
    assert not differ, f"vision outputs differ between two runs of the same params: {differ}"
    stale = [p for p in TIMING_FILES if p.split("/")[1] in VISION_PHASES
             and not any(fnmatch.fnmatch(t, p) for t in timing)]
    assert not stale, f"pipeutil.io.TIMING_FILES entries that match no output: {stale}"


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
