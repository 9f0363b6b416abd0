"""capture -> score -> prune phase functions end to end on a tiny model, and their bad inputs."""
import json
from pathlib import Path

import pytest
import yaml
from tiny_llm import CORPUS, make_tiny_llm

from avss.capture.phase import run_capture_ppl_drop, run_capture_sites, run_capture_stats
from avss.pruning.phase import run_prune_model, run_score_layers, score_config
from avss.pruning.plots import plot_scores_file
from pipeutil.io import PipelineError, write_jsonl


@pytest.fixture(scope="module")
def params():
    p = yaml.safe_load(Path("params.yaml").read_text())
    p["capture"].update(n_samples=4, seq_len=16, batch_size=2, ppl_samples=2, ppl_batch_size=2, progress=False,
                        device="cpu")
    p["prune"]["device"] = "cpu"
    return p


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("phases")
    make_tiny_llm(root / "model", n_layers=4)
    (root / "wiki.txt").write_text("\n".join(CORPUS * 30))
    return root


def test_capture_score_prune_chain(inputs, params, tmp_path):
    r = inputs
    meta = run_capture_stats(r / "model", r / "wiki.txt", params["capture"], tmp_path / "stats.npz", tmp_path / "stats.json")
    assert meta["n_tokens"] == 64 and meta["n_layers"] == 4
    ppl = run_capture_ppl_drop(r / "model", r / "wiki.txt", params["capture"], tmp_path / "ppl.json")
    assert len(ppl["without"]) == 4
    write_jsonl(r / "sciq.jsonl", [{"id": str(i), "context": CORPUS[i % len(CORPUS)] * 3} for i in range(20)])
    sites = {}
    for name in params["capture"]["calibrations"]:  # wiki text and SciQ support paragraphs
        m = run_capture_sites(r / "model", r, name, params["capture"], tmp_path / f"sites_{name}.npz",
                              tmp_path / f"sites_{name}.json")
        assert m["sites"] == params["capture"]["sites"] and m["n_tokens"] == 64
        sites[name] = (tmp_path / f"sites_{name}.npz", tmp_path / f"sites_{name}.json")
    scores = run_score_layers(tmp_path / "stats.npz", tmp_path / "stats.json", tmp_path / "ppl.json", params["score"],
                              tmp_path / "scores.json", sites)
    on_disk = json.loads((tmp_path / "scores.json").read_text())
    methods = [*params["score"]["methods"], *params["score"]["variants"]]
    assert set(on_disk) == {"_meta", "_calibrations", *methods} and set(scores) == {"_calibrations", *methods}
    assert set(on_disk["_calibrations"]) == set(params["capture"]["calibrations"])
    # the block-output AVSS of the wiki capture_sites pass is the capture phase's AVSS (same windows)
    assert on_disk["_calibrations"]["wiki"]["avss"]["per_layer"] == pytest.approx(on_disk["avss"]["per_layer"])
    with pytest.raises(PipelineError, match="score.variants: the AVSS variants need"):
        run_score_layers(tmp_path / "stats.npz", tmp_path / "stats.json", tmp_path / "ppl.json", params["score"],
                         tmp_path / "no.json")
    assert not (tmp_path / "no.json").exists()
    for entry in on_disk.values():
        if isinstance(entry, dict) and "selected" in entry:
            assert sorted(entry["ranking"]) == [0, 1, 2, 3] and len(entry["per_layer"]) == 4
            assert all(0 not in sel and 3 not in sel for sel in entry["selected"].values())  # protected
    plot_scores_file(tmp_path / "scores.json", tmp_path / "a.png", tmp_path / "b.png")
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "b.png").stat().st_size > 1000
    rec = run_prune_model(r / "model", tmp_path / "scores.json", "avss", "0.25", params["prune"], tmp_path / "pruned")
    assert rec["removed_layers"] == on_disk["avss"]["selected"]["0.25"]
    with pytest.raises(PipelineError, match="no selection 'n2'"):
        run_prune_model(r / "model", tmp_path / "scores.json", "avss", "n2", params["prune"], tmp_path / "p2")
    with pytest.raises(PipelineError, match="not in scores.json"):
        run_prune_model(r / "model", tmp_path / "scores.json", "magic", "0.25", params["prune"], tmp_path / "p3")
    assert not (tmp_path / "p2").exists() and not (tmp_path / "p3").exists()


def test_bad_inputs_leave_nothing(inputs, params, tmp_path):
    r = inputs
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(PipelineError, match="missing or empty"):
        run_capture_stats(r / "model", tmp_path / "empty.txt", params["capture"], tmp_path / "s.npz", tmp_path / "s.json")
    with pytest.raises(PipelineError, match="cannot find the decoder layers|not a loadable|not a Hugging Face model folder"):
        run_capture_stats(tmp_path, r / "wiki.txt", params["capture"], tmp_path / "s.npz", tmp_path / "s.json")
    assert list(tmp_path.iterdir()) == [tmp_path / "empty.txt"]
    bad = dict(params["score"], ratios=[1.5])
    assert score_config(bad).ratios == (1.5,)  # checked where the layer count is known:
    run_capture_stats(r / "model", r / "wiki.txt", params["capture"], tmp_path / "s.npz", tmp_path / "s.json")
    with pytest.raises(PipelineError, match="outside \\(0, 1\\)"):
        run_score_layers(tmp_path / "s.npz", tmp_path / "s.json", None, dict(bad, methods=["avss"]), tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_params_sections_validate_and_bad_values_are_rejected(params):
    from pipeutil.params import validate_params

    cfg = yaml.safe_load(Path("params.yaml").read_text())
    validate_params(cfg, "workflow/schemas")
    cfg["score"]["ratios"] = [0.25, 1.0]
    with pytest.raises(PipelineError, match="score.ratios.1"):
        validate_params(cfg, "workflow/schemas")
