"""EAVSS glue: per-class capture on a tiny model, shared-threshold sparsity, variant plan, change table."""
from __future__ import annotations

import numpy as np
import pytest
from tiny_llm import make_tiny_llm

from avss.eavss.capture import (
    ClassCaptureConfig,
    capture_fold,
    class_sparsity,
    class_texts,
    score_and_plot,
)
from avss.eavss.samples import HallucItem
from avss.eavss.scores import EavssConfig
from avss.finetune.jobs import plan_variants, steps_for
from avss.finetune.train import FinetuneConfig
from avss.stats import HistSpec
from pipeutil.io import PipelineError, write_jsonl


def _items(n_q=6, folds=2):
    out = []
    for q in range(n_q):
        for j, (ans, ok) in enumerate([("Paris is the capital.", True), ("Rome is the capital.", False),
                                       ("Mercury is closest.", False)]):
            out.append(HallucItem(f"q{q}/s/{j}", f"q{q}", "truthful_qa", f"What is {q}?", ans, ok, "s", q % folds))
    return out


def test_class_texts_use_training_folds_only():
    texts = class_texts(_items(), 0, ClassCaptureConfig(max_items_per_class=10))
    assert len(texts["truthful"]) == len(texts["hallucinated"]) == 3  # 3 training questions, 1 truthful each
    with pytest.raises(PipelineError, match="no training question"):
        class_texts([it for it in _items() if it.fold == 0], 0, ClassCaptureConfig())
    only_true = [it for it in _items() if it.truthful]
    with pytest.raises(PipelineError, match="0 hallucinated"):
        class_texts(only_true, 0, ClassCaptureConfig())


def test_capture_and_score_on_tiny_model(tmp_path):
    make_tiny_llm(tmp_path / "m", n_layers=3)
    write_jsonl(tmp_path / "items.jsonl", (it.to_dict() for it in _items()))
    files = []
    for fold in (0, 1):
        outs = {c: (str(tmp_path / f"fold{fold}" / f"{c}.npz"), str(tmp_path / f"fold{fold}" / f"{c}.json"))
                for c in ("truthful", "hallucinated")}
        counts = capture_fold(str(tmp_path / "m"), [str(tmp_path / "items.jsonl")], fold,
                              ClassCaptureConfig(max_items_per_class=4, batch_size=2), outs)
        assert counts == {"truthful": 3, "hallucinated": 3}
        files += [p for pair in outs.values() for p in pair]
    scores = score_and_plot(files, [0, 1], EavssConfig(top_k=2), "all", "quantile", 0.1, None, "avss",
                            str(tmp_path / "scores.json"), str(tmp_path / "plot.png"))
    assert scores["n_layers"] == 3 and set(scores["folds"]) == {"0", "1"}
    for sc in scores["folds"].values():
        assert len(sc["selected"]) == 2 and np.all(np.isfinite(sc["eavss"]))
        assert np.allclose(np.add(sc["sparsity_truthful"], sc["sparsity_hallucinated"]), 0.2, atol=0.06)
    assert (tmp_path / "plot.png").stat().st_size > 1000
    with pytest.raises(PipelineError, match="k=4"):
        score_and_plot(files, [0, 1], EavssConfig(top_k=4), "all", "quantile", 0.1, None, "avss",
                       str(tmp_path / "s2.json"), str(tmp_path / "p2.png"))
    assert not (tmp_path / "s2.json").exists() and not (tmp_path / "p2.png").exists()


def test_shared_threshold_sparsity():
    spec = HistSpec(lo=-2, hi=2, bins_per_decade=10)
    from avss.stats import LayerStats

    def ls(values):
        ax = np.abs(np.asarray(values, dtype=float))
        idx = np.clip(np.floor((np.log10(ax) - spec.lo) * spec.bins_per_decade), -1, spec.n).astype(int) + 1
        hist = np.bincount(idx, minlength=spec.n + 2)
        return LayerStats(0, len(ax), 1, 0.0, 1.0, 1.0, 1.0, float(np.sqrt(np.mean(ax ** 2))), {}, hist, 1.0, 0.0,
                          np.zeros(1), np.ones(1))
    small, big = ls([0.05] * 50 + [5.0] * 50), ls([5.0] * 100)
    st, sh, _thr = class_sparsity([small], [big], spec, "quantile", 0.2)
    assert st[0] == pytest.approx(0.4, abs=0.05) and sh[0] == pytest.approx(0.0, abs=0.01)
    st, sh, _ = class_sparsity([small], [big], spec, "absolute", 1.0)
    assert (st[0], sh[0]) == (pytest.approx(0.5, abs=0.01), pytest.approx(0.0, abs=0.01))
    with pytest.raises(PipelineError, match="sparsity_mode"):
        class_sparsity([small], [big], spec, "nope", 0.1)


def test_plan_variants():
    scores = {"n_layers": 6, "folds": {"0": {"selected": [1, 4]}, "1": {"selected": [2, 5]}}}
    avss = [0.1, 0.9, 0.3, 0.8, 0.2, 0.0]
    plan = plan_variants(scores, avss, ["eavss", "random", "avss_topk", "all_layers"], 2, [0, 1, 2])
    v = plan["variants"]
    assert plan["seeds"] == [0, 1, 2] and set(v["eavss"]) == {"0", "1", "2"}
    assert all(v["eavss"][s] == {"0": [1, 4], "1": [2, 5]} for s in ("0", "1", "2"))
    assert v["avss_topk"]["1"]["0"] == [1, 3] and v["all_layers"]["2"]["1"] == list(range(6))
    draws = [tuple(v["random"][s][f]) for s in ("0", "1", "2") for f in ("0", "1")]
    assert all(len(x) == 2 and len(set(x)) == 2 for x in draws)
    assert len(set(draws)) > 1  # a new draw per seed and fold (6 draws of 2 of 6 layers: all equal is ~1e-6)
    assert plan == plan_variants(scores, avss, ["eavss", "random", "avss_topk", "all_layers"], 2, [0, 1, 2])
    with pytest.raises(PipelineError, match="k=7"):
        plan_variants(scores, None, ["eavss"], 7, [0])
    with pytest.raises(PipelineError, match="variants"):
        plan_variants(scores, None, ["random"], 2, [0])
    for bad in ([], [1, 1], [0.5], None):
        with pytest.raises(PipelineError, match=r"finetune\.seeds: .* non-empty list of distinct integer seeds"):
            plan_variants(scores, None, ["eavss"], 2, bad)


def test_steps_from_epochs():
    assert steps_for(FinetuneConfig(epochs=1.0, batch_questions=4), 10) == 3  # every question seen at least once
    assert steps_for(FinetuneConfig(epochs=2.0, batch_questions=4), 10) == 5
    assert steps_for(FinetuneConfig(steps=7, epochs=2.0), 10) == 7  # an explicit step count wins
    with pytest.raises(PipelineError, match="finetune.epochs"):
        FinetuneConfig(epochs=0.0)
