"""Streaming statistics: Chan-merged moments, histogram thresholds, cosines, bad values."""
import math

import numpy as np
import pytest
import torch

from avss.stats import HistSpec, finish_layer, fraction_below, quantile_threshold
from avss.activations import LayerAccumulator
from pipeutil.io import PipelineError

SPEC = HistSpec()


def _run(batches, thresholds=(1e-5, 0.3)):
    acc = LayerAccumulator(0, batches[0].shape[1], SPEC, thresholds, "cpu")
    for x in batches:
        acc.add(x, x, 2 * x + 1)
    return acc


def test_streamed_moments_equal_the_full_float64_computation():
    g = torch.Generator().manual_seed(0)
    full = torch.randn(1000, 6, generator=g, dtype=torch.float64) * torch.tensor([1, 10, 100, 0.1, 5, 1e3]) + 50
    batches = [full[:7], full[7:300], full[300:301], full[301:]]  # uneven sizes
    ls = finish_layer(0, _run([b.float() for b in batches]).state(), (1e-5, 0.3), 0.1)
    ref = full.float().double().numpy()
    assert ls.count == 1000 and ls.dim == 6
    np.testing.assert_allclose(ls.feature_mean, ref.mean(0), rtol=1e-6)
    np.testing.assert_allclose(ls.feature_var, ref.var(0), rtol=1e-5)
    assert ls.var_all == pytest.approx(ref.var(), rel=1e-6)
    assert ls.var_feature == pytest.approx(ref.var(0).mean(), rel=1e-5)
    assert ls.var_token == pytest.approx(ref.var(1).mean(), rel=1e-4)
    assert ls.rms == pytest.approx(math.sqrt((ref ** 2).mean()), rel=1e-6)


def test_cosine_and_threshold_counts_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    acc = LayerAccumulator(0, 2, SPEC, (1e-5, 0.5, 2.5), "cpu")
    acc.add(x, x, torch.tensor([[1.0, 0.0], [1.0, 0.0], [-3.0, -4.0]]))  # cos 1, 0, -1
    ls = finish_layer(0, acc.state(), (1e-5, 0.5, 2.5), 0.0)
    assert ls.cos_in_out == pytest.approx(0.0)
    assert ls.exact_below == {1e-5: pytest.approx(2 / 6), 0.5: pytest.approx(2 / 6), 2.5: pytest.approx(4 / 6)}
    assert ls.hist[0] == 2  # the two exact zeros fall into the underflow bin


def test_histogram_thresholds_are_exact_on_edges_and_close_between():
    x = torch.from_numpy(np.random.default_rng(1).lognormal(0, 2, size=(4000, 5))).float()
    ls = finish_layer(0, _run([x]).state(), (1e-5, 0.3), 0.0)
    ax = x.abs().numpy()
    assert fraction_below(ls.hist, SPEC, 1.0) == pytest.approx((ax < 1.0).mean(), abs=2e-4)
    for t in (0.05, 0.3, 7.0):  # between edges: log-linear interpolation inside one 5.9 % bin
        assert fraction_below(ls.hist, SPEC, t) == pytest.approx((ax < t).mean(), abs=0.01)
    q = quantile_threshold(ls.hist, SPEC, 0.5)
    assert fraction_below(ls.hist, SPEC, q) == pytest.approx(0.5, abs=1e-6)
    assert q == pytest.approx(np.median(ax), rel=0.06)


def test_state_size_does_not_grow_with_tokens():
    small = _run([torch.randn(10, 8)]).state()
    big = _run([torch.randn(500, 8) for _ in range(20)]).state()
    assert {k: v.nbytes for k, v in small.items()} == {k: v.nbytes for k, v in big.items()}


def test_non_finite_activation_names_the_layer():
    acc = LayerAccumulator(7, 2, SPEC, (), "cpu")
    with pytest.raises(PipelineError, match="layer 7: NaN or inf"):
        acc.add(torch.tensor([[1.0, float("nan")]]), torch.ones(1, 2), torch.ones(1, 2))
    st = _run([torch.randn(4, 2)]).state()
    st["feature_m2"][1] = np.inf
    with pytest.raises(PipelineError, match="layer 3: NaN or inf in the feature variance"):
        finish_layer(3, st, (1e-5, 0.3), 0.0)


def test_empty_layer_is_an_error():
    acc = LayerAccumulator(2, 3, SPEC, (), "cpu")
    acc.add(torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, 3))
    with pytest.raises(PipelineError, match="layer 2: no calibration tokens"):
        finish_layer(2, acc.state(), (), 0.0)
