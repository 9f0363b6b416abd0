"""Scores against values worked out by hand on small inputs."""
import numpy as np
import pytest

from avss.pruning import scores as S
from avss.stats import HistSpec, LayerStats
from pipeutil.io import PipelineError


def _layer(i, var, cos, hist=None, rms=1.0):
    h = np.zeros(HistSpec().n + 2, dtype=np.int64) if hist is None else hist
    return LayerStats(layer=i, count=10, dim=2, mean=0.0, var_all=var, var_feature=var / 2, var_token=var / 4,
                      rms=rms, exact_below={1e-5: 0.1 * (i + 1)}, hist=h, cos_in_out=cos, angular_last=0.0,
                      feature_mean=np.zeros(2), feature_var=np.ones(2))


def test_avss_nav_nas_and_normalised_by_hand():
    out = S.avss(np.array([2.0, 6.0, 2.0]), np.array([0.2, 0.2, 0.6]), "ratio", delta=0.0)
    np.testing.assert_allclose(out["nav"], [0.2, 0.6, 0.2])
    np.testing.assert_allclose(out["nas"], [0.2, 0.2, 0.6])
    np.testing.assert_allclose(out["avss"], [1.0, 3.0, 1 / 3])
    np.testing.assert_allclose(out["normalised"], [3 / 13, 9 / 13, 1 / 13])
    dens = S.avss(np.array([2.0, 6.0, 2.0]), np.array([0.5, 0.0, 0.5]), "density_product", delta=0.0)
    np.testing.assert_allclose(dens["normalised"], [0.1 / 0.8, 0.6 / 0.8, 0.1 / 0.8])  # NAV x (1 - S)


def test_zero_sparsity_guard():
    with pytest.raises(PipelineError, match=r"sparsity is zero in layer\(s\) \[0, 1\].*guard_delta"):
        S.avss(np.array([1.0, 1.0, 2.0]), np.array([0.0, 0.0, 0.1]), "ratio", delta=0.0)
    out = S.avss(np.array([1.0, 1.0, 2.0]), np.array([0.0, 0.0, 0.1]), "ratio", delta=0.1)
    np.testing.assert_allclose(out["nas"], [0.25, 0.25, 0.5])  # (S + 0.1) / sum
    np.testing.assert_allclose(out["avss"], [1.0, 1.0, 1.0])


def test_cumulative_rule_sorts_before_summing():
    norm = np.array([0.3, 0.05, 0.4, 0.1, 0.15])
    assert S.cumulative_selection(norm, 0.25) == [1, 3]  # 0.05 + 0.10 <= 0.25 < + 0.15
    assert S.cumulative_selection(norm, 0.25, frozenset({1})) == [3, 4]  # 0.10 + 0.15 without layer 1
    unsorted_cum = np.cumsum(norm)  # the published bug: summing in layer order selects nothing here
    assert not np.any(unsorted_cum <= 0.25)


def test_baselines_by_hand():
    np.testing.assert_allclose(S.block_influence([1.0, 0.5, 0.0]), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(S.ppl_drop(10.0, [12.0, 10.5, 30.0]), [2.0, 0.5, 20.0])
    ang = np.array([[0, .5, .6, .7, .9], [.5, 0, .1, .3, .8], [.6, .1, 0, .05, .2], [.7, .3, .05, 0, .4],
                    [.9, .8, .2, .4, 0]])  # 4 layers, 5 boundaries
    np.testing.assert_allclose(S.angular_per_layer(ang), [0.5, 0.1, 0.05, 0.4])
    assert S.angular_block(ang, 2, False, False) == [2, 3]  # d(0,2)=.6, d(1,3)=.3, d(2,4)=.2
    assert S.angular_block(ang, 2, True, True) == [1, 2]  # only start 1 avoids layers 0 and 3
    assert S.angular_block(ang, 3, False, False) == [0, 1, 2]  # d(0,3)=.7 < d(1,4)=.8
    with pytest.raises(PipelineError, match="no block of 4"):
        S.angular_block(ang, 4, True, False)
    assert S.ranking(S.drop_last(5)) == [4, 3, 2, 1, 0]
    r1, r2 = S.random_scores(6, 1), S.random_scores(6, 1)
    assert np.array_equal(r1, r2) and not np.array_equal(r1, S.random_scores(6, 2))


def test_counts_protection_and_bad_ratios():
    assert [S.n_to_remove(30, r) for r in (0.125, 0.25, 0.375)] == [4, 8, 11]
    assert S.n_to_remove(4, 0.1) == 1
    for bad in (0.0, 1.0, 1.5, -0.2):
        with pytest.raises(PipelineError, match="outside \\(0, 1\\)"):
            S.n_to_remove(30, bad)
    assert S.select_lowest([4, 0, 3, 1, 2], 2, 5, True, True) == [1, 3]
    assert S.select_lowest([4, 0, 3, 1, 2], 2, 5, False, False) == [0, 4]
    with pytest.raises(PipelineError, match="cannot remove 4 of 5"):
        S.select_lowest([4, 0, 3, 1, 2], 4, 5, True, True)


def test_variance_axis_and_sparsity_modes():
    hist = np.zeros(HistSpec().n + 2, dtype=np.int64)
    hist[400] = 50  # |x| in [10**-0.025, 1) ... bin k covers 10**(-10 + (k-1)/40) .. 10**(-10 + k/40)
    hist[441] = 50  # |x| in [10, 10**1.025)
    layers = [_layer(0, 4.0, 0.9, hist, rms=2.0), _layer(1, 8.0, 0.5, hist, rms=200.0)]
    np.testing.assert_allclose(S.layer_variance(layers, "all"), [4, 8])
    np.testing.assert_allclose(S.layer_variance(layers, "token"), [1, 2])
    sp, thr = S.layer_sparsity(layers, HistSpec(), "absolute", 1e-5)
    np.testing.assert_allclose(sp, [0.1, 0.2])  # exact counts recorded for 1e-5
    sp, thr = S.layer_sparsity(layers, HistSpec(), "relative", 1.0)  # thresholds 2 and 200
    np.testing.assert_allclose(thr, [2.0, 200.0])
    np.testing.assert_allclose(sp, [0.5, 1.0])
    sp, thr = S.layer_sparsity(layers, HistSpec(), "quantile", 0.5)  # global median: the edge 1.0
    assert thr[0] == pytest.approx(1.0) and sp == pytest.approx([0.5, 0.5])
    with pytest.raises(PipelineError, match="variance_axis"):
        S.layer_variance(layers, "head")


def test_score_all_format_and_unknown_method():
    layers = [_layer(i, v, c) for i, (v, c) in enumerate([(1.0, .9), (4.0, .99), (2.0, .5), (8.0, .8)])]
    ang = np.zeros((5, 5))
    ang[[0, 1, 2, 3], [1, 2, 3, 4]] = [.4, .1, .3, .2]
    inp = S.ScoreInputs(layers, ang, HistSpec(), {"dense": 5.0, "without": [9.0, 5.5, 6.0, 7.0]})
    cfg = S.ScoreConfig(sparsity_mode="absolute", sparsity_value=1e-5, guard_delta=0.0, ratios=(0.25, 0.5),
                        counts=(1,))
    out = S.score_all(inp, cfg)
    assert set(out) == set(S.REGISTRY)
    assert out["block_influence"]["ranking"] == [1, 0, 3, 2]
    assert out["block_influence"]["selected"] == {"0.25": [1], "0.5": [1, 2]}  # 0 and 3 protected
    assert out["ppl_drop"]["selected"]["0.5"] == [1, 2]
    assert out["angular_distance"]["selected"]["0.25"] == [1]
    assert out["drop_last"]["selected"]["0.5"] == [1, 2] and out["drop_last"]["selected_count"] == {"1": [2]}
    # AVSS: NAV = [1, 4, 2, 8] / 15; sparsity [.1, .2, .3, .4] -> NAS = S / 1 -> AVSS ~ [10, 20, 6.67, 20] / 15
    assert out["avss"]["ranking"][:2] == [2, 0]
    with pytest.raises(PipelineError, match="did you mean 'avss'"):
        S.score_all(inp, S.ScoreConfig(methods=("avs",)))
    with pytest.raises(PipelineError, match="score.counts"):
        S.score_all(inp, S.ScoreConfig(counts=(4,), sparsity_mode="absolute", sparsity_value=1e-5))
