"""EAVSS pure functions: HSAV, HSS, combination, top-k selection, folds."""
from __future__ import annotations

import numpy as np
import pytest

from avss.eavss.scores import (
    EavssConfig,
    eavss,
    hsav,
    hss,
    minmax,
    rank01,
    score_layers,
    top_k,
)
from avss.folds import assign_folds, check_disjoint, split
from pipeutil.io import PipelineError


def test_hsav_is_scale_free_and_symmetric():
    vt = np.array([1.0, 10.0, 1000.0])
    vh = vt * np.array([2.0, 2.0, 0.5])
    a = hsav(vt, vh)
    assert np.allclose(a, np.log(2.0), atol=1e-9)  # same relative change -> same score at any depth
    assert np.allclose(hsav(vt, vh, "log_ratio"), [np.log(2), np.log(2), -np.log(2)], atol=1e-9)
    assert np.allclose(hsav(vt, vt), 0.0)


def test_hss_relative_difference_with_delta():
    st = np.array([0.10, 0.0, 0.2])
    sh = np.array([0.15, 0.0, 0.2])
    s = hss(st, sh, delta=0.0 + 1e-12)
    assert s[0] == pytest.approx(0.05 / 0.125)
    assert s[1] == 0.0 and s[2] == 0.0
    assert hss(st, sh, "abs_diff")[0] == pytest.approx(0.05)
    assert hss(np.array([1e-6]), np.array([2e-6]), delta=1e-3)[0] < 2e-3  # tiny sparsities do not explode


def test_eavss_combination_and_selection():
    a = np.array([0.0, 1.0, 2.0, 3.0])
    s = np.array([3.0, 0.0, 0.0, 3.0])
    e = eavss(a, s, alpha=0.5)
    assert np.allclose(e, [0.5, 1 / 6, 1 / 3, 1.0])
    assert eavss(a, s, alpha=1.0).tolist() == minmax(a).tolist()
    assert np.allclose(eavss(a, s, alpha=0.25, combine="raw"), 0.25 * a + 0.75 * s)
    ranking, selected = top_k(e, 2)
    assert ranking[:2] == [3, 0] and selected == [0, 3]
    assert rank01(np.array([5.0, 5.0, 1.0])).tolist() == [0.75, 0.75, 0.0]


def test_score_layers_end_to_end():
    vt = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    vh = vt * np.array([1.0, 1.0, 3.0, 1.0, 1.1])
    sp = np.full(5, 0.1)
    out = score_layers(vt, vh, sp, sp, EavssConfig(top_k=1))
    assert out.selected == [2] and out.ranking[0] == 2 and len(out.eavss) == 5


def test_minmax_constant_is_zero():
    assert minmax(np.ones(4)).tolist() == [0.0] * 4


@pytest.mark.parametrize("k", [0, 6])
def test_k_out_of_range(k):
    with pytest.raises(PipelineError, match="k="):
        top_k(np.arange(5.0), k)


def test_bad_inputs():
    with pytest.raises(PipelineError, match="same number of layers"):
        hsav(np.ones(3), np.ones(4))
    with pytest.raises(PipelineError, match="alpha"):
        EavssConfig(alpha=2.0)
    with pytest.raises(PipelineError, match="hsav_mode"):
        EavssConfig(hsav_mode="nope")
    with pytest.raises(PipelineError, match="NaN"):
        top_k(np.array([1.0, np.nan]), 1)


def test_folds_balanced_deterministic_disjoint():
    ids = [f"q{i}" for i in range(11)]
    f1 = assign_folds(ids, 2, seed=3, what="ds")
    assert f1 == assign_folds(list(reversed(ids)), 2, seed=3, what="ds")
    assert sorted(np.bincount(list(f1.values())).tolist()) == [5, 6]
    train, test = split(f1, 0)
    assert train.isdisjoint(test) and train | test == set(ids)
    assert assign_folds(ids, 2, seed=4, what="ds") != f1


def test_fold_without_questions_is_an_error():
    with pytest.raises(PipelineError, match="no questions"):
        assign_folds(["a", "b"], 3, seed=0)
    with pytest.raises(PipelineError, match=r"hallucination_samples\.folds: ds has 2 usable question\(s\) but k=3"):
        assign_folds(["a", "b"], 3, seed=0, what="ds", key="hallucination_samples.folds")
    with pytest.raises(PipelineError, match="at least 2"):
        assign_folds(["a", "b"], 1, seed=0)
    with pytest.raises(PipelineError, match="both training and evaluation"):
        check_disjoint(["a", "b"], ["b"], "x")
