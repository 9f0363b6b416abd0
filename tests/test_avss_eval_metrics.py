"""Metrics and retention against values worked out by hand."""
import itertools
import math

import numpy as np
import pytest

from avss.evaluation import metrics as M
from avss.pruning.retention import chance_adjusted_retention, mean_retention, retention, retention_rows
from pipeutil.io import PipelineError


def test_acc_and_acc_norm_by_hand():
    assert M.acc([-1.0, -2.0, -0.5], 2) == 1.0
    assert M.acc([-1.0, -2.0, -0.5], 0) == 0.0
    assert M.acc([-1.0, -1.0], 0) == 1.0  # ties: first choice wins
    # sums -4 (8 bytes) and -3 (2 bytes): per byte -0.5 vs -1.5 -> choice 0 wins after normalising
    assert M.acc([-4.0, -3.0], 1) == 1.0
    assert M.acc_norm([-4.0, -3.0], 0, [8, 2]) == 1.0


def test_truthfulqa_mc1_mc2_by_hand():
    assert M.mc1([-1.0, -3.0, -2.0]) == 1.0
    assert M.mc1([-3.0, -1.0]) == 0.0
    lls = [math.log(0.2), math.log(0.3), math.log(0.5)]
    assert M.mc2(lls, n_true=1) == pytest.approx(0.2)
    assert M.mc2(lls, n_true=2) == pytest.approx(0.5)
    # unnormalised probabilities: 0.1 and 0.3 -> 0.25
    assert M.mc2([math.log(0.1), math.log(0.3)], 1) == pytest.approx(0.25)


def test_exact_match_normalisation():
    assert M.exact_match(" The Eiffel Tower", ["eiffel tower"], drop_articles=True) == 1.0
    assert M.exact_match(" The Eiffel Tower", ["eiffel tower"], drop_articles=False) == 0.0
    assert M.exact_match("Paris!", ["London", "paris"]) == 1.0
    assert M.exact_match("Parisian", ["Paris"]) == 0.0
    assert M.normalize_answer("  A  cat's   toy. ", drop_articles=True) == "cats toy"
    assert M.normalize_answer("Theatre", drop_articles=True) == "theatre"  # only whole-word articles


def test_ranking_metrics_by_hand():
    scores, labels = [0.9, 0.8, 0.7, 0.6], [0, 1, 0, 1]
    assert M.average_precision(scores, labels) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert M.reciprocal_rank(scores, labels) == pytest.approx(0.5)
    assert M.top1_acc(scores, labels) == 0.0
    assert M.average_precision([0.1, 0.9, 0.5], [1, 1, 0]) == pytest.approx((1 / 1 + 2 / 3) / 2)
    with pytest.raises(ValueError):
        M.average_precision([0.1, 0.2], [0, 0])


@pytest.mark.parametrize("n,r", [(2, 1), (4, 2), (5, 1), (5, 3)])
def test_expected_random_ranking_matches_enumeration(n, r):
    labels = [1] * r + [0] * (n - r)
    perms = list(itertools.permutations(range(n)))
    exp = {k: 0.0 for k in ("map", "mrr", "top1_acc")}
    for p in perms:
        scores = [-p[i] for i in range(n)]  # candidate i ranked at position p[i]
        exp["map"] += M.average_precision(scores, labels) / len(perms)
        exp["mrr"] += M.reciprocal_rank(scores, labels) / len(perms)
        exp["top1_acc"] += M.top1_acc(scores, labels) / len(perms)
    got = M.expected_random_ranking(n, r)
    for k, value in exp.items():
        assert got[k] == pytest.approx(value)
    assert M.expected_random_ranking(2, 1)["map"] == pytest.approx(0.75)


def test_aggregations_and_stderr():
    items = [M.token_perplexity(-3 * math.log(2), 3), M.token_perplexity(-math.log(2), 1)]
    assert M.aggregate("token_perplexity", items) == pytest.approx(2.0)
    assert M.aggregate("bits_per_byte", [M.bits_per_byte(-4 * math.log(2), 4)]) == pytest.approx(1.0)
    assert M.aggregate("acc", [1.0, 0.0, 1.0, 1.0]) == pytest.approx(0.75)
    assert M.stderr("acc", [1.0, 0.0]) == pytest.approx(np.std([1, 0], ddof=1) / math.sqrt(2))
    assert M.stderr("word_perplexity", items) is None
    assert M.get_metric("word_perplexity").higher_is_better is False
    with pytest.raises(PipelineError):
        M.aggregate("acc", [])


def test_unknown_metric_suggests_the_closest():
    with pytest.raises(PipelineError, match="did you mean 'acc_norm'"):
        M.get_metric("acc_nrom")


def test_retention_by_hand():
    assert retention(0.8, 0.6) == pytest.approx(0.75)
    assert retention(10.0, 20.0, higher_is_better=False) == pytest.approx(0.5)  # perplexity doubled
    assert retention(0.0, 0.1) is None
    assert chance_adjusted_retention(0.6, 0.55, 0.5) == pytest.approx(0.5)
    assert chance_adjusted_retention(0.5, 0.6, 0.5) is None  # dense at chance: undefined
    assert chance_adjusted_retention(0.6, 0.5, None) is None


def test_retention_rows_and_mean():
    dense = {"sst2": {"metrics": {"acc": 0.8}, "higher_is_better": {"acc": True}, "chance": {"acc": 0.5},
                      "stderr": {"acc": 0.1}, "primary": "acc", "n": 10}}
    pruned = {"sst2": {**dense["sst2"], "metrics": {"acc": 0.65}}}
    rows = retention_rows(dense, pruned, method="avss", ratio=0.25)
    assert len(rows) == 1 and rows[0]["method"] == "avss"
    assert rows[0]["retention"] == pytest.approx(0.8125)
    assert rows[0]["chance_adjusted_retention"] == pytest.approx(0.5)
    assert mean_retention(rows) == pytest.approx(0.8125)
