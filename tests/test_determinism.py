"""Same params, same machine -> byte-identical results, except the files pipeutil.io.TIMING_FILES declares.

1. Through Snakemake: the download (model, wiki text, SciQ), capture (capture_sites included) and score phases on the tiny model, run
   twice in a temporary copy of the project (the second time forced), every result file compared.
2. In process: evaluate_pruning and a 2-step fine-tuning, each run twice into two folders.
"""
import fnmatch
import json
from pathlib import Path

import yaml
from repo_copy import ROOT, copy_repo
from smoke_inputs import TEXT, _rows
from test_workflow_dag import merge, run
from tiny_llm import make_tiny_llm

from pipeutil.io import TIMING_FILES, write_jsonl

LLM_RULES = ["download_model", "download_dataset", "capture_stats", "capture_ppl_drop", "capture_sites", "score_layers"]
TARGETS = ["results/capture/stats.npz", "results/capture/ppl_drop.json", "results/capture/sites_wiki.npz",
           "results/capture/sites_sciq.npz", "results/score/scores.json"]


def is_timing_file(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, pattern) for pattern in TIMING_FILES)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """relative path -> bytes of every file below ``root`` (the ``results/...`` paths of TIMING_FILES left out)."""
    return {str(p.relative_to(root.parent)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not is_timing_file(str(p.relative_to(root.parent)))}


def differing(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def test_timing_files_are_declared_as_patterns():
    assert TIMING_FILES and all(p.startswith("results/") for p in TIMING_FILES)
    assert is_timing_file("results/evaluate_pruning/timings.json")
    assert not is_timing_file("results/evaluate_pruning/evaluations.json")


def test_capture_and_score_phases_are_byte_identical_on_rerun(tmp_path):
    """Before: stats.json and ppl_drop.json held elapsed_s (wall-clock seconds)."""
    repo = copy_repo(tmp_path / "repo")
    make_tiny_llm(repo / "tests/_smoke/model", n_layers=4)
    (repo / "tests/_smoke/datasets").mkdir(parents=True)
    (repo / "tests/_smoke/datasets/wiki.txt").write_text(TEXT)
    write_jsonl(repo / "tests/_smoke/datasets/sciq.jsonl", _rows("sciq"))  # the SciQ calibration text of capture_sites
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()),
                   yaml.safe_load((ROOT / "tests/params.smoke.yaml").read_text()))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["snakemake", "--cores", "2", *TARGETS], repo)
    first = tree_bytes(repo / "results")
    assert any(k.endswith("stats.npz") for k in first) and any(k.endswith("scores.json") for k in first)
    run(["snakemake", "--cores", "2", "--forcerun", *LLM_RULES, "--", *TARGETS], repo)
    assert not differing(first, tree_bytes(repo / "results"))


def test_evaluate_pruning_and_finetune_are_byte_identical_on_rerun(tmp_path):
    """Before: evaluations.json held seconds per model, per task and in total."""
    from smoke_inputs import _rows

    from avss.finetune.data import TrainQuestion
    from avss.finetune.train import FinetuneConfig, run_finetune
    from avss.pruning.sweep import run_evaluate_pruning
    from pipeutil.io import write_jsonl, write_text

    model = tmp_path / "model"
    make_tiny_llm(model, n_layers=3)
    data = tmp_path / "datasets"
    for name in ("sciq", "nq_open"):
        write_jsonl(data / f"{name}.jsonl", _rows(name))
    write_text(data / "wiki.txt", TEXT)
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps({"avss": {"per_layer": [0.1, 0.3, 0.2], "selected": {"0.34": [1]}}}))
    cfg = {"device": "cpu", "batch_size": 2, "max_length": 64, "progress": False,
           "tasks": {"sciq": {"limit": 2}, "nq_open": {"limit": 2, "max_new_tokens": 3},
                     "wiki": {"n_docs": 1, "words_per_doc": 24}}}
    qs = [TrainQuestion(f"d/{i}", f"What is {i}?", (f"It is {i}.",), (f"It is {i + 1}.",)) for i in range(4)]
    for run_dir in ("a", "b"):
        out = tmp_path / run_dir / "results"
        run_evaluate_pruning(model, scores, data, cfg, out / "evaluate_pruning/evaluations.json", threads=1,
                             timings_json=out / "evaluate_pruning/timings.json")
        run_finetune(str(model), qs, [1], str(out / "finetune/model"), str(tmp_path / run_dir / "state"),
                     FinetuneConfig(steps=2, batch_questions=2, max_length=24))
    a, b = tree_bytes(tmp_path / "a" / "results"), tree_bytes(tmp_path / "b" / "results")
    assert "results/evaluate_pruning/evaluations.json" in a and "results/finetune/model/model.safetensors" in a
    assert (tmp_path / "a/results/evaluate_pruning/timings.json").is_file()  # the wall-clock numbers live here
    assert not differing(a, b)
