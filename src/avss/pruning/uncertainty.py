"""Paired-bootstrap analysis of a pruning sweep (pure: records in, rows and intervals out).

Every (task, metric) is resampled over its documents with ONE count matrix per (task, item set)
(``pipeutil.bootstrap.weights``: seeded by the task name and the number of items), shared by the dense
model and every pruned model scored on those documents: metric values, retention (pruned / dense,
dense / pruned for perplexity), chance-adjusted retention, the change against the dense model, and the
difference between any two methods are functions of the same resampled items, so their intervals are
paired. Perplexity items are (log-likelihood, units) per document: documents are resampled and the
perplexity is exp(-sum ll / sum units) on each resample.

Tasks are resampled independently of each other; a mean over tasks (mean retention of the primary
metrics) is averaged resample by resample, so it keeps the pairing between methods.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from avss.evaluation.metrics import get_metric
from pipeutil import bootstrap as B
from pipeutil.io import PipelineError

MIN_MARGIN = 1e-12  # dense - chance below this: chance-adjusted retention undefined


@dataclass(frozen=True)
class Boot:
    """A statistic on the original items and on every resample ([n_boot])."""

    estimate: float
    boot: np.ndarray

    def interval(self, n: int, level: float = B.LEVEL) -> B.Interval:
        iv = B.interval(self.estimate, self.boot, level)
        return B.Interval(iv.estimate, iv.low, iv.high, iv.se, iv.level, int(n), iv.n_boot, iv.n_undefined)

    def __sub__(self, other: Boot) -> Boot:
        return Boot(self.estimate - other.estimate, self.boot - other.boot)


def _columns(items: Sequence, aggregation: str) -> np.ndarray:
    """Per-document items -> [n, k] (mean: one column; perplexity family: log-likelihood, units)."""
    arr = np.asarray(items, dtype=np.float64)
    return arr.reshape(-1, 1) if aggregation == "mean" else arr.reshape(-1, 2)


def _value(aggregation: str, means: np.ndarray) -> np.ndarray:
    """Metric from column means ([..., k]): the mean, exp(-ll/u), or -ll/u/ln 2."""
    if aggregation == "mean":
        return means[..., 0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rate = -means[..., 0] / means[..., 1]
        return np.exp(rate) if aggregation == "perplexity" else rate / math.log(2)


def metric_boot(items: Sequence, metric: str, w: np.ndarray) -> Boot:
    """The metric on the documents (as ``avss.evaluation.metrics.aggregate``) and on every resample."""
    agg = get_metric(metric).aggregation
    x = _columns(items, agg)  # [n, k]
    if x.shape[0] != w.shape[1]:
        raise PipelineError(f"bootstrap of {metric}: {x.shape[0]} items, the resampling has {w.shape[1]}")
    return Boot(float(_value(agg, x.mean(0))), _value(agg, w @ x / w.shape[1]))


def retention_boot(pruned: Boot, dense: Boot, higher_is_better: bool) -> Boot:
    num, den = (pruned, dense) if higher_is_better else (dense, pruned)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = num.estimate / den.estimate if den.estimate != 0 else math.nan
        return Boot(float(est), np.where(den.boot != 0, num.boot / den.boot, np.nan))


def adjusted_boot(pruned: Boot, dense: Boot, chance: float) -> Boot:
    c = float(chance)
    m = dense.estimate - c
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = np.where(dense.boot - c > MIN_MARGIN, (pruned.boot - c) / (dense.boot - c), np.nan)
    return Boot(float((pruned.estimate - c) / m) if m > MIN_MARGIN else math.nan, boot)


def align(dense: Mapping, ids: Sequence) -> np.ndarray:
    """Row of each of ``ids`` in the dense evaluation of a task (the sweep's items are a subset)."""
    where = {str(i): k for k, i in enumerate(dense["ids"])}
    missing = [i for i in ids if str(i) not in where]
    if missing:
        raise PipelineError(f"task {dense['task']}: documents {missing[:3]} of a pruned model were not scored for "
                            "the dense model (item sets must be nested)")
    return np.array([where[str(i)] for i in ids], dtype=int)


class Resampler:
    """One count matrix per (task, number of items), drawn once and shared by every model."""

    def __init__(self, n_boot: int, seed: int, key: str = "evaluate_pruning.bootstrap.n_boot"):
        self.n_boot, self.seed, self.key = B.check_n_boot(n_boot, key), int(seed), key
        self._w: dict[tuple[str, int], np.ndarray] = {}

    def __call__(self, task: str, n: int) -> np.ndarray:
        if (task, n) not in self._w:
            self._w[(task, n)] = B.weights(n, self.n_boot, self.seed, task, self.key)
        return self._w[(task, n)]


def _fin(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _iv_cols(prefix: str, iv: B.Interval | None) -> dict:
    if iv is None:
        return {prefix: None, f"{prefix}_low": None, f"{prefix}_high": None}
    return {prefix: _fin(iv.estimate), f"{prefix}_low": _fin(iv.low), f"{prefix}_high": _fin(iv.high)}


def compare(dense: Mapping, pruned: Mapping, rs: Resampler) -> list[dict]:
    """Rows (one per metric) of a pruned vs the dense evaluation of ONE task, with 95 % paired intervals,
    plus the Boot of each metric's retention / chance-adjusted retention (key ``_boot``) for later means."""
    ids = pruned["ids"]
    rows_d = align(dense, ids)
    w = rs(pruned["task"], len(ids))
    out = []
    for metric, items in pruned["items"].items():
        hib = bool(pruned["higher_is_better"][metric])
        chance = pruned["chance"].get(metric)
        d_items = [dense["items"][metric][k] for k in rows_d]
        d, p = metric_boot(d_items, metric, w), metric_boot(items, metric, w)
        ret = retention_boot(p, d, hib)
        adj = adjusted_boot(p, d, chance) if (chance is not None and hib) else None
        change = p - d
        n = len(ids)
        out.append({
            "task": pruned["task"], "metric": metric, "primary": metric == pruned["primary"], "higher_is_better": hib,
            "n": n, **_iv_cols("dense", d.interval(n)), **_iv_cols("pruned", p.interval(n)),
            "chance": chance, **_iv_cols("retention", ret.interval(n)),
            **_iv_cols("chance_adjusted_retention", adj.interval(n) if adj else None),
            **_iv_cols("change", change.interval(n)),
            "_boot": {"retention": ret, "chance_adjusted_retention": adj},
        })
    return out


def mean_boot(boots: Sequence[Boot | None]) -> Boot | None:
    """Mean over tasks, resample by resample (tasks resampled independently); None if any is undefined."""
    if not boots or any(b is None or not math.isfinite(b.estimate) for b in boots):
        return None
    return Boot(float(np.mean([b.estimate for b in boots])), np.mean([b.boot for b in boots], axis=0))


def verdict(a: str, b: str, diff: B.Interval, what: str = "keeps more") -> str:
    """'A keeps more than B' only when the interval of A - B excludes 0; else indistinguishable."""
    if diff.low > 0:
        return f"{a} {what} than {b}"
    if diff.high < 0:
        return f"{b} {what} than {a}"
    return (f"{a} and {b} are indistinguishable at this sample size (smallest detectable difference "
            f"{B.detectable_difference(diff.se):.3f})")
