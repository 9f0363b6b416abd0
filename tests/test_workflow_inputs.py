"""file: sources are inputs: editing a local dataset or replacing model weights re-runs the download job
(Snakemake) and changes the download stage (DVC); the dvc.yaml dep is the folder, not each of its files."""
import json

import re

import yaml

from repo_copy import copy_repo
from test_workflow_dag import run
from tiny_llm import make_tiny_llm

TARGETS = ["results/download/model", "results/download/datasets/sst2.jsonl"]
ROW = {"id": "s0", "text": "a fine film", "label": 1, "label_names": ["negative", "positive"]}


def _dry(repo) -> str:
    return run(["snakemake", "-n", "--cores", "1", *TARGETS], repo).stdout


def test_local_sources_are_snakemake_inputs_and_dvc_deps(tmp_path):
    """Before: neither `snakemake -n` nor `dvc status` noticed an edited file: source."""
    repo = copy_repo(tmp_path / "repo")
    make_tiny_llm(repo / "local/model", n_layers=2)
    (repo / "local/sst2.jsonl").write_text(json.dumps(ROW) + "\n")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["model"].update(source="file:local/model", member=None, sha256=None)
    params["datasets"]["sst2"].update(source="file:local/sst2.jsonl", format="normalized", member=None, sha256=None)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.email", "t@example.org"],
                ["git", "config", "user.name", "test"], ["python", "workflow/scripts/gen_dvc.py"]):
        run(cmd, repo)
    deps = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["download"]["deps"]
    assert "local/model" in deps and "local/sst2.jsonl" in deps
    assert not [d for d in deps if d.startswith("local/model/")]  # DVC hashes the folder as a whole

    run(["snakemake", "--cores", "2", *TARGETS], repo)
    assert "Nothing to be done" in _dry(repo)
    run(["dvc", "commit", "-f", "-q", "download"], repo)
    assert "changed deps" not in run(["dvc", "status", "download"], repo).stdout

    with open(repo / "local/sst2.jsonl", "a") as fh:  # edit the local dataset
        fh.write(json.dumps({**ROW, "id": "s1", "label": 0}) + "\n")
    out = _dry(repo)
    assert "Updated input files: local/sst2.jsonl" in out and "rule download_model:" not in out
    assert "local/sst2.jsonl" in run(["dvc", "status", "download"], repo).stdout

    make_tiny_llm(tmp_path / "other", n_layers=2, seed=1)  # replace the model weights
    (repo / "local/model/model.safetensors").write_bytes((tmp_path / "other/model.safetensors").read_bytes())
    out = _dry(repo)
    assert "rule download_model:" in out and "Updated input files:" in out and "local/model/model.safetensors" in out
    assert "local/model" in run(["dvc", "status", "download"], repo).stdout


def test_vision_local_sources_are_snakemake_inputs(tmp_path):
    """The vision branch's file: sources (detect.checkpoint, scenes.real videos and landmarks) are job
    inputs too: before, a replaced checkpoint or edited landmark file left `snakemake -n` up to date."""
    from smoke_inputs import write_smoke_inputs
    from test_workflow_dag import merge
    from repo_copy import ROOT

    repo = copy_repo(tmp_path / "repo")
    write_smoke_inputs(repo)
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()),
                   yaml.safe_load((ROOT / "tests/params.smoke.yaml").read_text()))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["snakemake", "-n", "--cores", "1", "phase_detect"], repo).stdout
    jobs = out.split("\nrule ")
    detect = [j for j in jobs if j.startswith("detect_scene:") and "heatmap" in j]
    assert detect and all("tests/_smoke/detector.pt" in j for j in detect), detect[:1]
    real = [j for j in jobs if j.startswith("real_scene:")]
    assert real and "tests/_smoke/real/landmarks_px.json" in real[0], real
    # the match video of camera "left" (not its calib_left.avi board video; job order varies)
    video = [j for j in jobs if j.startswith("real_scene_video:")
             and re.search(r"/left\.avi\b", j.split("output:")[1].split("\n    ")[0])]
    assert len(video) == 1 and "tests/_smoke/real/left.mp4" in video[0], video
