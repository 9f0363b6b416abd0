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
import torch

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


class LayerAccumulator:
    """Running statistics of one layer; all state on ``device`` in float64/int64."""

    def __init__(self, layer: int, dim: int, spec: HistSpec, thresholds: tuple[float, ...], device):
        self.layer, self.dim, self.spec, self.thresholds = layer, dim, spec, tuple(thresholds)
        f64 = {"dtype": torch.float64, "device": device}
        self.count = 0
        self.mean = torch.zeros(dim, **f64)  # [D]
        self.m2 = torch.zeros(dim, **f64)  # [D]
        self.token_var_sum = torch.zeros((), **f64)
        self.below = torch.zeros(len(self.thresholds), dtype=torch.int64, device=device)  # [K]
        self.hist = torch.zeros(spec.n + 2, dtype=torch.int64, device=device)  # [n + 2]
        self.cos_sum = torch.zeros((), **f64)
        self.cos_count = 0
        edges = spec.edges()
        # thresholds on a bin edge are read from the histogram; the others are counted directly
        # (values within float32 rounding of the edge may land in the neighbouring bin)
        self._edge_thresholds = {t: int(np.argmin(np.abs(edges - t))) for t in self.thresholds
                                 if np.any(np.isclose(edges, t, rtol=1e-9, atol=0))}

    def add(self, x: torch.Tensor, inp: torch.Tensor, out: torch.Tensor) -> None:
        """x: [N, D] pooled site values; inp/out: [M, H] block input/output at the real tokens.

        Few, cheap kernels (no Welford var, no cosine_similarity): this runs inside every forward.
        """
        x = x.float()  # [N, D]
        n = x.shape[0]
        if n == 0:
            return
        b_mean = x.mean(0)  # [D]
        if not bool(torch.isfinite(b_mean).all()):
            raise PipelineError(f"layer {self.layer}: NaN or inf in the activations "
                                "(the model produced non-finite values; try dtype float32)")
        b_m2 = (x - b_mean).square_().sum(0)  # [D]
        self._merge(n, b_mean.double(), b_m2.double())
        sq = torch.linalg.vector_norm(x, dim=1).double().square_()  # [N] sum of squares per sample
        mu = x.sum(1).double() / self.dim  # [N] mean per sample
        self.token_var_sum += (sq / self.dim - mu.square()).clamp_min_(0).sum()
        ax = x.abs()  # [N, D]
        self.hist += self._bin_counts(ax)
        for k, t in enumerate(self.thresholds):
            if t not in self._edge_thresholds:
                self.below[k] += (ax < t).sum()
        inp, out = inp.float(), out.float()  # [M, H]
        dot = (inp * out).sum(-1)  # [M]
        norms = torch.linalg.vector_norm(inp, dim=-1) * torch.linalg.vector_norm(out, dim=-1)  # [M]
        self.cos_sum += (dot / norms.clamp_min(1e-12)).sum().double()
        self.cos_count += dot.numel()

    def _bin_counts(self, ax: torch.Tensor) -> torch.Tensor:
        """Histogram of |x| [n + 2]: bin 0 below 10**lo (zeros too), 1..n regular, n + 1 overflow."""
        s = self.spec
        pos = torch.log10(ax).mul_(s.bins_per_decade).add_(1.0 - s.lo * s.bins_per_decade)  # [N, D]; -inf for 0
        idx = pos.clamp_(0.0, s.n + 1.5).to(torch.int64)  # truncation == floor for non-negative values
        return torch.bincount(idx.flatten(), minlength=s.n + 2)  # [n + 2]

    def _merge(self, n_b: int, mean_b: torch.Tensor, m2_b: torch.Tensor) -> None:
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean  # [D]
        self.mean += delta * (n_b / n)
        self.m2 += m2_b + delta.square() * (n_a * n_b / n)
        self.count = n

    def check_finite(self) -> None:
        if not bool(torch.isfinite(self.mean).all()) or not bool(torch.isfinite(self.m2).all()):
            raise PipelineError(f"layer {self.layer}: NaN or inf in the activation statistics "
                                "(the model produced non-finite activations; try dtype float32)")

    def state(self) -> dict[str, np.ndarray]:
        """Raw accumulator state as numpy arrays (what stats.npz stores per layer)."""
        hist, below = self.hist.cpu().numpy(), self.below.cpu().numpy()
        for k, t in enumerate(self.thresholds):
            if t in self._edge_thresholds:  # |x| < edges[j]: bins 0..j
                below[k] = hist[: self._edge_thresholds[t] + 1].sum()
        return {"count": np.array(self.count), "feature_mean": self.mean.cpu().numpy(),
                "feature_m2": self.m2.cpu().numpy(), "token_var_sum": self.token_var_sum.cpu().numpy(),
                "below": below, "hist": hist,
                "cos_sum": self.cos_sum.cpu().numpy(), "cos_count": np.array(self.cos_count)}


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
