"""Paired bootstrap over items: 95 % intervals for means, paired differences, ratios, perplexity, Spearman.

Pure numpy functions, no files, no models. The pairing comes from ONE resampling of the items of a
dataset, drawn once and shared by every model or variant scored on those items:

    w = weights(n_items, n_boot=2000, seed=0, stream="sciq")    # [B, n] resample counts
    dense = mean_ci(acc_dense, w)                                # Interval(estimate, low, high, se)
    gain = diff_ci(acc_a, acc_b, w)                              # paired: mean(a) - mean(b)
    keep = ratio_ci(acc_pruned, acc_dense, w)                    # retention: ratio of means, joint
    ppl = perplexity_ci(loglik, n_tokens, w)                     # documents resampled: exp(-sum ll / sum n)
    rho = spearman_ci(proxy, damage_items, w)                    # rank correlation, damage resampled

Resample b is encoded as a count vector ``w[b]`` (how often each item was drawn; rows sum to n), so a
resampled mean of every column of X [n, k] is one matrix product ``w @ X / n`` [B, k]: no Python loop
over resamples, memory O(B n + B k). Every statistic here is a smooth function of such column means
(:func:`stat_ci`), evaluated on the original items for the estimate and on every resample for the
percentile interval. Items must be aligned: row i of every array is the same item for every model.

``Interval.se`` is the bootstrap standard deviation; :func:`detectable_difference` turns the s.e. of a
paired difference into the smallest true difference this sample size detects with the given power.
"""
from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

from pipeutil.io import PipelineError

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """Point estimate (on the original items), percentile interval, bootstrap s.e., resample counts."""

    estimate: float
    low: float
    high: float
    se: float
    level: float = LEVEL
    n: int = 0  # items
    n_boot: int = 0  # resamples
    n_undefined: int = 0  # resamples where the statistic was not finite (e.g. a ratio over 0); left out

    def excludes(self, value: float = 0.0) -> bool:
        """True when ``value`` lies outside the interval (a difference 'is significant')."""
        return bool(self.low > value or self.high < value)

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)

    def to_dict(self) -> dict:
        """Plain dict for JSON; non-finite numbers become None (JSON has no NaN)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def check_n_boot(n_boot, key: str = "n_boot") -> int:
    """``n_boot`` as an int >= 1, else PipelineError naming ``key``."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or int(n_boot) < 1:
        raise PipelineError(f"{key}: the number of bootstrap resamples must be an integer >= 1, got {n_boot!r}")
    return int(n_boot)


def _seed_of(seed: int, stream: str, n: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), zlib.crc32(stream.encode("utf-8")), int(n)])


def weights(n: int, n_boot: int, seed: int = 0, stream: str = "", key: str = "n_boot") -> np.ndarray:
    """Resample counts [n_boot, n] (float64, rows sum to n) of n items drawn with replacement.

    Deterministic in (seed, stream, n): every model scored on the same n items of dataset ``stream``
    gets the same matrix, which is what makes the bootstrap paired. ``key`` names n_boot in errors.
    """
    n_boot = check_n_boot(n_boot, key)
    if n < 1:
        raise PipelineError(f"bootstrap of {stream or 'a dataset'}: no items to resample")
    rng = np.random.default_rng(_seed_of(seed, stream, n))
    idx = rng.integers(0, n, size=(n_boot, n))  # [B, n] drawn item per slot
    flat = idx + (np.arange(n_boot) * n)[:, None]  # [B, n] offset per resample
    return np.bincount(flat.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def _columns(cols: Sequence, n: int) -> np.ndarray:
    arr = np.column_stack([np.asarray(c, dtype=np.float64).reshape(-1) for c in cols])  # [n, k]
    if arr.shape[0] != n:
        raise PipelineError(f"bootstrap: {arr.shape[0]} items given, the resampling has {n}")
    return arr


def interval(estimate: float, boot: np.ndarray, level: float = LEVEL) -> Interval:
    """Percentile interval of the resampled statistic ``boot`` [B] around ``estimate``."""
    boot = np.asarray(boot, dtype=np.float64).reshape(-1)
    ok = np.isfinite(boot)
    good = boot[ok]
    if good.size == 0 or not math.isfinite(estimate):
        return Interval(float(estimate), math.nan, math.nan, math.nan, level, 0, boot.size, int((~ok).sum()))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(good, [alpha, 1.0 - alpha])
    se = float(good.std(ddof=1)) if good.size > 1 else 0.0
    return Interval(float(estimate), float(lo), float(hi), se, level, 0, boot.size, int((~ok).sum()))


def _with_n(iv: Interval, n: int) -> Interval:
    return dataclasses.replace(iv, n=int(n))


def stat_ci(fn: Callable[..., np.ndarray], cols: Sequence, w: np.ndarray, level: float = LEVEL) -> Interval:
    """Interval of ``fn(mean(col_1), ..., mean(col_k))``, all columns resampled jointly with ``w``.

    cols: k arrays of n per-item values; fn: vectorised (numpy in, numpy out) over the resamples.
    """
    n = w.shape[1]
    x = _columns(cols, n)  # [n, k]
    means = w @ x / n  # [B, k] resampled column means
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        est = float(fn(*x.mean(0)))
        boot = fn(*means.T)  # [B]
    return _with_n(interval(est, boot, level), n)


def mean_ci(x, w, level: float = LEVEL) -> Interval:
    """Mean of per-item values."""
    return stat_ci(lambda m: m, [x], w, level)


def diff_ci(a, b, w, level: float = LEVEL) -> Interval:
    """Paired difference mean(a) - mean(b): both models scored on the same resampled items."""
    return stat_ci(lambda ma, mb: ma - mb, [a, b], w, level)


def ratio_ci(num, den, w, level: float = LEVEL) -> Interval:
    """Ratio of means mean(num) / mean(den) (e.g. retention pruned / dense), resampled jointly."""
    return stat_ci(lambda mn, md: mn / md, [num, den], w, level)


def adjusted_ratio_ci(num, den, chance: float, w, level: float = LEVEL) -> Interval:
    """Chance-adjusted retention (mean(num) - chance) / (mean(den) - chance), resampled jointly.

    Resamples where mean(den) <= chance make the statistic undefined and are left out (n_undefined).
    """
    c = float(chance)
    return stat_ci(lambda mn, md: np.where(md - c > 1e-12, (mn - c) / (md - c), np.nan), [num, den], w, level)


def ratio_diff_ci(num_a, num_b, den, w, level: float = LEVEL) -> Interval:
    """Difference of two retentions over the same denominator: (mean(a) - mean(b)) / mean(den)."""
    return stat_ci(lambda ma, mb, md: (ma - mb) / md, [num_a, num_b, den], w, level)


def perplexity_ci(loglik, units, w, level: float = LEVEL) -> Interval:
    """exp(-sum ll / sum units) with documents resampled (units: tokens, words or bytes per document)."""
    return stat_ci(lambda ml, mu: np.exp(-ml / mu), [loglik, units], w, level)


def perplexity_ratio_ci(loglik_num, loglik_den, units, w, level: float = LEVEL) -> Interval:
    """ppl(den) / ppl(num) = exp((sum ll_num - sum ll_den) / sum units): perplexity retention when
    num is the pruned and den the dense model (1 = nothing lost), documents resampled jointly."""
    return stat_ci(lambda mn, md, mu: np.exp((mn - md) / mu), [loglik_num, loglik_den, units], w, level)


def perplexity_diff_ci(loglik_a, loglik_b, units, w, level: float = LEVEL) -> Interval:
    """ppl(a) - ppl(b) on the same resampled documents."""
    return stat_ci(lambda ma, mb, mu: np.exp(-ma / mu) - np.exp(-mb / mu), [loglik_a, loglik_b, units], w, level)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation of x [L] with every row of y [B, L] (average ranks for ties)."""
    rx = _st.rankdata(x)  # [L]
    ry = _st.rankdata(y, axis=-1)  # [B, L]
    rx = rx - rx.mean()
    ry = ry - ry.mean(-1, keepdims=True)
    den = np.sqrt((rx ** 2).sum() * (ry ** 2).sum(-1))  # [B]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (ry @ rx) / den, np.nan)


def spearman(x, y) -> float:
    """Spearman rank correlation of two vectors (nan when one is constant)."""
    return float(_spearman_rows(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)[None, :])[0])


def _resampled_targets(items, w) -> tuple[np.ndarray, np.ndarray]:
    """items [n, L] per-item values of L targets -> (target means [L], resampled means [B, L])."""
    items = np.asarray(items, dtype=np.float64)
    if items.ndim != 2 or items.shape[0] != w.shape[1]:
        raise PipelineError(f"bootstrap: per-item target values must be [n items, L], got {items.shape} for "
                            f"{w.shape[1]} resampled items")
    return items.mean(0), w @ items / w.shape[1]


def spearman_ci(proxy, target_items, w, level: float = LEVEL) -> Interval:
    """Spearman correlation of a fixed per-layer proxy [L] with a per-layer target whose value is a mean
    over items (target_items [n, L], e.g. the measured damage of removing each layer on each item);
    the items are resampled (the proxy is fixed: it comes from calibration text, not from these items)."""
    proxy = np.asarray(proxy, dtype=np.float64)
    est, boot = _resampled_targets(target_items, w)
    return _with_n(interval(spearman(proxy, est), _spearman_rows(proxy, boot), level), w.shape[1])


def spearman_diff_ci(proxy_a, proxy_b, target_items, w, level: float = LEVEL) -> Interval:
    """rho(a, target) - rho(b, target) on the same resampled items (paired)."""
    a, b = (np.asarray(p, dtype=np.float64) for p in (proxy_a, proxy_b))
    est, boot = _resampled_targets(target_items, w)
    with np.errstate(invalid="ignore"):
        out = interval(spearman(a, est) - spearman(b, est), _spearman_rows(a, boot) - _spearman_rows(b, boot), level)
    return _with_n(out, w.shape[1])


def detectable_difference(se: float, level: float = LEVEL, power: float = 0.8) -> float:
    """Smallest true difference that a two-sided test at ``level`` detects with probability ``power``,
    given the standard error ``se`` of the paired difference at this sample size:
    (z_{1-(1-level)/2} + z_power) x se (= 2.80 se for 95 % and 80 % power)."""
    if not 0.0 < level < 1.0 or not 0.0 < power < 1.0:
        raise PipelineError(f"detectable_difference: level {level} and power {power} must lie in (0, 1)")
    z = _st.norm.ppf
    return float((z(1.0 - (1.0 - level) / 2.0) + z(power)) * se)


def pooled_detectable(ses: Sequence[float], level: float = LEVEL, power: float = 0.8) -> float | None:
    """Median detectable difference over several comparisons (one number to quote for a table)."""
    vals = [detectable_difference(s, level, power) for s in ses if s is not None and math.isfinite(s)]
    return float(np.median(vals)) if vals else None
