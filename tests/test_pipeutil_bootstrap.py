"""Paired bootstrap (pipeutil.bootstrap): resampling, intervals, pairing, ratios, perplexity, Spearman."""
import math

import numpy as np
import pytest
from scipy import stats

from pipeutil import bootstrap as bs
from pipeutil.io import PipelineError


def test_weights_are_deterministic_counts_per_stream():
    w = bs.weights(50, 300, seed=3, stream="sciq")
    assert w.shape == (300, 50)
    assert np.all(w.sum(1) == 50) and np.all(w >= 0)
    assert np.array_equal(w, bs.weights(50, 300, seed=3, stream="sciq"))  # same items -> same resamples
    assert not np.array_equal(w, bs.weights(50, 300, seed=3, stream="sst2"))
    assert not np.array_equal(w, bs.weights(50, 300, seed=4, stream="sciq"))
    # each item is drawn with probability 1/n per slot: mean count 1
    assert abs(w.mean() - 1.0) < 1e-12 and 0.9 < w[:, 0].mean() < 1.1


@pytest.mark.parametrize("bad", [0, -3, 1.5, "10", True, None])
def test_bad_resample_count_names_the_key(bad):
    with pytest.raises(PipelineError, match="evaluate_pruning.bootstrap.n_resamples"):
        bs.weights(10, bad, key="evaluate_pruning.bootstrap.n_resamples")


def test_no_items_is_an_error():
    with pytest.raises(PipelineError, match="no items"):
        bs.weights(0, 10, stream="wiki")


def test_mean_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(0)
    x = (rng.random(400) < 0.7).astype(float)
    iv = bs.mean_ci(x, bs.weights(400, 4000, seed=1))
    se = math.sqrt(x.mean() * (1 - x.mean()) / 400)
    assert iv.estimate == pytest.approx(x.mean())
    assert iv.low < iv.estimate < iv.high
    assert iv.se == pytest.approx(se, rel=0.1)
    assert iv.half_width == pytest.approx(1.96 * se, rel=0.12)
    assert iv.n == 400 and iv.n_boot == 4000 and iv.n_undefined == 0


def test_interval_coverage_is_close_to_95_percent():
    rng = np.random.default_rng(5)
    w = bs.weights(80, 400, seed=0)
    hits = 0
    for _ in range(300):
        iv = bs.mean_ci((rng.random(80) < 0.6).astype(float), w)
        hits += iv.low <= 0.6 <= iv.high
    assert 0.88 <= hits / 300 <= 0.99


def test_paired_difference_uses_the_same_items():
    rng = np.random.default_rng(1)
    base = (rng.random(200) < 0.6).astype(float)
    w = bs.weights(200, 2000, seed=0)
    same = bs.diff_ci(base, base.copy(), w)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    flip = base.copy()
    flip[:10] = 1 - flip[:10]  # b differs from a on 10 items only
    paired = bs.diff_ci(base, flip, w)
    assert paired.estimate == pytest.approx(base.mean() - flip.mean())
    # the paired interval is far narrower than two independent intervals would suggest
    indep = math.hypot(bs.mean_ci(base, w).se, bs.mean_ci(flip, w).se)
    assert paired.se < 0.5 * indep
    assert not bs.diff_ci(base, base, w).excludes(0.0)
    assert bs.diff_ci(base + 1.0, base, w).excludes(0.0)


def test_ratio_and_adjusted_ratio_are_ratios_of_means():
    rng = np.random.default_rng(2)
    dense = (rng.random(300) < 0.75).astype(float)
    pruned = dense * (rng.random(300) < 0.8)
    w = bs.weights(300, 2000, seed=0)
    r = bs.ratio_ci(pruned, dense, w)
    assert r.estimate == pytest.approx(pruned.mean() / dense.mean())
    assert r.low < r.estimate < r.high <= 1.0 + 1e-12  # pruned <= dense item by item
    a = bs.adjusted_ratio_ci(pruned, dense, 0.25, w)
    assert a.estimate == pytest.approx((pruned.mean() - 0.25) / (dense.mean() - 0.25))
    assert a.high <= 1.0 + 1e-12
    d = bs.ratio_diff_ci(dense, pruned, dense, w)
    assert d.estimate == pytest.approx(1.0 - r.estimate)
    assert d.low == pytest.approx(1.0 - r.high) and d.high == pytest.approx(1.0 - r.low)


def test_undefined_resamples_are_counted_not_averaged():
    dense = np.array([1.0] + [0.0] * 19)  # mean 0.05: many resamples lose the only correct item
    w = bs.weights(20, 1000, seed=0)
    r = bs.ratio_ci(dense, dense, w)
    assert r.n_undefined > 100  # 0/0 in (19/20)^20 ~ 36 % of the resamples
    assert r.estimate == 1.0 and r.low == r.high == 1.0
    adj = bs.adjusted_ratio_ci(dense, dense, 0.5, w)  # dense below chance: undefined everywhere
    assert adj.to_dict()["estimate"] is None and adj.to_dict()["low"] is None


def test_perplexity_resamples_documents():
    ll = np.array([-200.0, -150.0, -400.0, -90.0])
    n_tok = np.array([100, 60, 130, 50])
    w = bs.weights(4, 3000, seed=0, stream="wiki")
    iv = bs.perplexity_ci(ll, n_tok, w)
    assert iv.estimate == pytest.approx(math.exp(-ll.sum() / n_tok.sum()))
    per_doc = np.exp(-ll / n_tok)
    assert per_doc.min() - 1e-9 <= iv.low < iv.estimate < iv.high <= per_doc.max() + 1e-9
    pruned = ll * 1.1
    ret = bs.perplexity_ratio_ci(pruned, ll, n_tok, w)
    assert ret.estimate == pytest.approx(iv.estimate / bs.perplexity_ci(pruned, n_tok, w).estimate)
    assert ret.high < 1.0  # pruned is worse on every document
    diff = bs.perplexity_diff_ci(pruned, ll, n_tok, w)
    assert diff.low > 0
    one = bs.perplexity_ci(ll[:1], n_tok[:1], bs.weights(1, 50))
    assert one.low == one.high == pytest.approx(math.exp(2.0))


def test_vectorised_spearman_equals_scipy():
    rng = np.random.default_rng(3)
    x = rng.random(12)
    y = rng.random((7, 12))
    y[0, :4] = 0.5  # ties get average ranks
    got = bs._spearman_rows(x, y)
    want = [stats.spearmanr(x, row).statistic for row in y]
    assert np.allclose(got, want)
    assert math.isnan(bs.spearman(x, np.ones(12)))


def test_spearman_interval_resamples_the_target_items():
    rng = np.random.default_rng(4)
    n, n_layers = 120, 10
    true_damage = np.linspace(0.0, 0.5, n_layers)
    items = true_damage + rng.normal(0.0, 0.6, size=(n, n_layers))  # [n, L] noisy per-item damage
    w = bs.weights(n, 2000, seed=0)
    good = bs.spearman_ci(true_damage, items, w)
    assert good.estimate == pytest.approx(stats.spearmanr(true_damage, items.mean(0)).statistic)
    assert good.low < good.estimate <= good.high and good.high <= 1.0
    bad = bs.spearman_ci(true_damage[::-1], items, w)
    assert bad.estimate == pytest.approx(-good.estimate)
    diff = bs.spearman_diff_ci(true_damage, true_damage[::-1], items, w)
    assert diff.estimate == pytest.approx(2 * good.estimate) and diff.excludes(0.0)
    zero = bs.spearman_diff_ci(true_damage, true_damage * 3, items, w)  # same ranks: difference 0
    assert zero.low == zero.high == 0.0
    with pytest.raises(PipelineError, match=r"\[n items, L\]"):
        bs.spearman_ci(true_damage, items[:5], w)


def test_detectable_difference():
    assert bs.detectable_difference(1.0) == pytest.approx(1.96 + 0.8416, abs=1e-3)
    assert bs.detectable_difference(0.02, power=0.5) == pytest.approx(1.96 * 0.02, rel=1e-3)
    assert bs.pooled_detectable([0.01, None, 0.03, float("nan"), 0.02]) == pytest.approx(2.8016 * 0.02, rel=1e-3)
    assert bs.pooled_detectable([]) is None
    with pytest.raises(PipelineError, match="power"):
        bs.detectable_difference(0.1, power=1.0)


def test_item_count_mismatch_is_an_error():
    with pytest.raises(PipelineError, match="3 items given, the resampling has 4"):
        bs.mean_ci([1.0, 0.0, 1.0], bs.weights(4, 10))
