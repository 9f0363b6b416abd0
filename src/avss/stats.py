"""Streaming per-layer activation statistics (never stores activations).

Interface (relied on by score and by the EAVSS branch):

- ``HistSpec``: the log-spaced histogram of |activation| kept per layer. Bin 0 holds values
  below 10**lo (exact zeros included), bins 1..n the decades lo..hi split into
  ``bins_per_decade`` equal log steps, bin n+1 values >= 10**hi. Any threshold (absolute,
  relative to the layer's scale, or a quantile) can be evaluated after the pass from it.
- ``LayerAccumulator``: running state of one layer. ``add(x, inp, out, last_idx)`` takes the
  pooled site values ``x`` [N, D] and the block input/output at the selected tokens.
  Count, per-feature mean and M2 are merged in float64 with Chan's parallel formula from
  float32 per-batch moments; memory is O(D + bins), independent of the number of tokens.
- ``LayerStats``: the finished, immutable record per layer (see its fields).
- ``fraction_below(hist, spec, t)``: fraction of values with |x| < t, log-linear inside a bin.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeutil.io import PipelineError


@dataclass(frozen=True)
class HistSpec:
    lo: float = -10.0  # log10 of the smallest resolved |x|
    hi: float = 6.0  # log10 of the largest resolved |x|
    bins_per_decade: int = 40  # resolution: 10**(1/40) = 5.9 % per bin

    @property
    def n(self) -> int:
        return round((self.hi - self.lo) * self.bins_per_decade)

    def edges(self) -> np.ndarray:
        """Edges of the regular bins (n + 1 values), in |x| units."""
        return 10.0 ** (self.lo + np.arange(self.n + 1) / self.bins_per_decade)


@dataclass(frozen=True)
class LayerStats:
    """Finished statistics of one decoder layer over the calibration tokens."""
    layer: int
    count: int  # number of pooled samples (tokens for pooling 'all')
    dim: int  # width of the site (hidden size, or MLP width for site 'mlp_act')
    mean: float  # mean over all values
    var_all: float  # variance over all values (samples x features), ddof 0
    var_feature: float  # mean over features of the per-feature variance across samples
    var_token: float  # mean over samples of the variance across features
    rms: float  # sqrt(mean of x**2): the layer's scale for relative thresholds
    exact_below: dict[float, float]  # absolute threshold -> fraction of |x| < threshold (counted, or
    #   read from the histogram when the threshold is a bin edge, e.g. 1e-5 with the default HistSpec)
    hist: np.ndarray  # [n + 2] int64 counts of |x| (see HistSpec)
    cos_in_out: float  # mean over tokens of cos(block input, block output)
    angular_last: float  # mean over sequences of arccos(cos(in, out)) / pi at the last token
    feature_mean: np.ndarray = field(repr=False)  # [D] float64
    feature_var: np.ndarray = field(repr=False)  # [D] float64, ddof 0


def fraction_below(hist: np.ndarray, spec: HistSpec, t: float) -> float:
    """Fraction of values with |x| < t from a HistSpec histogram (log-linear inside one bin)."""
    total = float(hist.sum())
    if total == 0:
        raise PipelineError("empty histogram: no calibration values were seen")
    if t <= 10.0 ** spec.lo:
        return 0.0
    if t >= 10.0 ** spec.hi:
        return float(hist[:-1].sum()) / total
    pos = (math.log10(t) - spec.lo) * spec.bins_per_decade  # position in regular bins
    if abs(pos - round(pos)) < 1e-6:  # a bin edge: no interpolation
        pos = float(round(pos))
    k = math.floor(pos)
    below = float(hist[: k + 1].sum()) + (pos - k) * float(hist[k + 1])
    return below / total


def quantile_threshold(hist: np.ndarray, spec: HistSpec, q: float) -> float:
    """Smallest t with fraction_below(hist, t) >= q (inverse of fraction_below)."""
    cum = np.cumsum(hist) / hist.sum()  # [n + 2]
    k = int(np.searchsorted(cum, q))  # first bin reaching q
    if k == 0:
        return 10.0 ** spec.lo
    if k > spec.n:
        return 10.0 ** spec.hi
    prev = cum[k - 1]
    frac = (q - prev) / max(cum[k] - prev, 1e-300)
    return float(10.0 ** (spec.lo + (k - 1 + frac) / spec.bins_per_decade))


def finish_layer(layer: int, st: dict[str, np.ndarray], thresholds, angular_last: float) -> LayerStats:
    """Turn one layer's raw state (``LayerAccumulator.state()``) into a LayerStats record."""
    count = int(st["count"])
    if count == 0:
        raise PipelineError(f"layer {layer}: no calibration tokens were seen (empty dataset?)")
    f_mean = np.asarray(st["feature_mean"], dtype=np.float64)  # [D]
    f_var = np.asarray(st["feature_m2"], dtype=np.float64) / count  # [D]
    for name, arr in (("feature mean", f_mean), ("feature variance", f_var)):
        if not np.all(np.isfinite(arr)):
            raise PipelineError(f"layer {layer}: NaN or inf in the {name} statistics")
    mean = float(f_mean.mean())
    var_feature = float(f_var.mean())
    var_all = var_feature + float(np.mean((f_mean - mean) ** 2))  # law of total variance
    return LayerStats(
        layer=layer, count=count, dim=int(f_mean.shape[0]), mean=mean, var_all=var_all,
        var_feature=var_feature, var_token=float(st["token_var_sum"]) / count,
        rms=math.sqrt(var_all + mean * mean),
        exact_below={float(t): float(c) / (count * f_mean.shape[0]) for t, c in zip(thresholds, st["below"])},
        hist=np.asarray(st["hist"], dtype=np.int64),
        cos_in_out=float(st["cos_sum"]) / max(int(st["cos_count"]), 1),
        angular_last=float(angular_last), feature_mean=f_mean, feature_var=f_var)


VARIANCE_AXES = ("all", "feature", "token")


# ----------------------------------------------------------------------------- AVSS parts
def layer_variance(layers: list[LayerStats], axis: str) -> np.ndarray:
    """Variance per layer [L] along the configured axis."""
    if axis not in VARIANCE_AXES:
        raise PipelineError(f"score.avss.variance_axis: {axis!r} is not one of {list(VARIANCE_AXES)}")
    return np.array([getattr(ls, f"var_{axis}") for ls in layers], dtype=np.float64)


def top_k(scores: np.ndarray, k: int, what: str = "eavss.top_k") -> tuple[list[int], list[int]]:
    """(ranking, selected): layers by descending score (ties: lower index first) and the first k."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    if not 1 <= k <= n:
        raise PipelineError(f"{what}: k={k} but the model has {n} layers (need 1 <= k <= {n})")
    if not np.all(np.isfinite(scores)):
        raise PipelineError(f"{what}: scores contain NaN/inf at layers {np.flatnonzero(~np.isfinite(scores)).tolist()}")
    ranking = sorted(range(n), key=lambda i: (-scores[i], i))
    return ranking, sorted(ranking[:k])
