"""HSAV, HSS and EAVSS: per-layer hallucination propensity from class-conditional statistics.

The papers' exact formulas are not available; these are the project's own definitions
(docs/eavss.md gives the reasons). For layer l, with V_T(l), V_H(l) the activation variance
and S_T(l), S_H(l) the activation sparsity measured on truthful (T) and hallucinated (H) items:

    HSAV(l) = | ln((V_H(l) + eps) / (V_T(l) + eps)) |                      (mode "abs_log_ratio")
    HSS(l)  = | S_H(l) - S_T(l) | / ((S_H(l) + S_T(l)) / 2 + delta)        (mode "abs_rel_diff")
    EAVSS(l) = alpha * HSAV(l) + (1 - alpha) * HSS(l)                      (combine "raw")

(both parts are dimensionless relative changes; combine "weighted" min-max scales each over
layers first, "rank" uses fractional ranks). Higher EAVSS
means the layer's activations react more to hallucinated answers; the top-k layers are selected.
Pure functions: arrays in, numbers out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avss.stats import top_k
from pipeutil.io import PipelineError

HSAV_MODES = ("abs_log_ratio", "log_ratio", "abs_rel_diff")
HSS_MODES = ("abs_rel_diff", "abs_diff", "diff")
COMBINE = ("raw", "weighted", "rank")


@dataclass(frozen=True)
class EavssConfig:
    """How HSAV, HSS and EAVSS are computed (params.yaml: eavss)."""
    hsav_mode: str = "abs_log_ratio"   # scale-free contrast of variances (residual variance grows with depth)
    hss_mode: str = "abs_rel_diff"     # relative contrast of sparsities
    eps: float = 1e-8                  # added to variances inside the log
    delta: float = 1e-3                # added to the mean sparsity in the HSS denominator
    alpha: float = 0.5                 # weight of HSAV in EAVSS (1 - alpha for HSS)
    combine: str = "raw"               # raw | weighted | rank
    top_k: int = 4                     # number of selected layers

    def __post_init__(self):
        for name, val, allowed in (("hsav_mode", self.hsav_mode, HSAV_MODES), ("hss_mode", self.hss_mode, HSS_MODES),
                                   ("combine", self.combine, COMBINE)):
            if val not in allowed:
                raise PipelineError(f"eavss.{name}: {val!r} is not one of {list(allowed)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise PipelineError(f"eavss.alpha: {self.alpha} is outside [0, 1]")
        if self.top_k < 1:
            raise PipelineError(f"eavss.top_k: {self.top_k} must be >= 1")


@dataclass
class EavssScores:
    """Per-layer scores (index = decoder layer) and the selected layers."""
    hsav: list[float]
    hss: list[float]
    eavss: list[float]
    ranking: list[int]                 # layers, most hallucination-prone first
    selected: list[int]                # ranking[:top_k], sorted ascending
    config: dict = field(default_factory=dict)


def hsav(var_t: np.ndarray, var_h: np.ndarray, mode: str = "abs_log_ratio", eps: float = 1e-8) -> np.ndarray:
    """Hallucination-specific activation variance per layer."""
    var_t, var_h = _pair(var_t, var_h, "variance")
    if mode == "abs_rel_diff":
        return np.abs(var_h - var_t) / ((var_h + var_t) / 2 + eps)
    ratio = np.log((var_h + eps) / (var_t + eps))
    return np.abs(ratio) if mode == "abs_log_ratio" else ratio


def hss(sp_t: np.ndarray, sp_h: np.ndarray, mode: str = "abs_rel_diff", delta: float = 1e-3) -> np.ndarray:
    """Hallucination-specific sparsity per layer (sparsity = fraction of near-zero activations)."""
    sp_t, sp_h = _pair(sp_t, sp_h, "sparsity")
    if mode == "abs_rel_diff":
        return np.abs(sp_h - sp_t) / ((sp_h + sp_t) / 2 + delta)
    diff = sp_h - sp_t
    return np.abs(diff) if mode == "abs_diff" else diff


def minmax(x: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] over layers; a constant vector maps to zeros."""
    x = np.asarray(x, dtype=np.float64)
    span = x.max() - x.min()
    return np.zeros_like(x) if span <= 0 or not np.isfinite(span) else (x - x.min()) / span


def rank01(x: np.ndarray) -> np.ndarray:
    """Fractional rank in [0, 1] (ties share the mean rank)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return np.zeros_like(x)
    order = np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(np.float64)
    for v in np.unique(x):
        same = x == v
        order[same] = order[same].mean()
    return order / (len(x) - 1)


def eavss(hsav_v: np.ndarray, hss_v: np.ndarray, alpha: float = 0.5, combine: str = "weighted") -> np.ndarray:
    """Combine HSAV and HSS into one score per layer (higher = more hallucination-prone).

    raw: both are dimensionless relative changes, summed as they are (noise in a part that is
    small everywhere stays small); weighted: each min-max scaled over layers first; rank: fractional ranks.
    """
    if combine == "raw":
        return alpha * np.asarray(hsav_v, dtype=np.float64) + (1 - alpha) * np.asarray(hss_v, dtype=np.float64)
    norm = minmax if combine == "weighted" else rank01
    return alpha * norm(hsav_v) + (1 - alpha) * norm(hss_v)


def score_layers(var_t, var_h, sp_t, sp_h, cfg: EavssConfig) -> EavssScores:
    """Full EAVSS computation from per-class per-layer variance and sparsity."""
    a = hsav(var_t, var_h, cfg.hsav_mode, cfg.eps)
    s = hss(sp_t, sp_h, cfg.hss_mode, cfg.delta)
    e = eavss(a, s, cfg.alpha, cfg.combine)
    ranking, selected = top_k(e, cfg.top_k)
    return EavssScores(a.tolist(), s.tolist(), e.tolist(), ranking, selected, cfg.__dict__.copy())


def _pair(a, b, what: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise PipelineError(f"eavss: truthful and hallucinated {what} need the same number of layers "
                            f"(got shapes {a.shape} and {b.shape})")
    if np.any(a < 0) or np.any(b < 0):
        raise PipelineError(f"eavss: negative {what} values")
    return a, b
