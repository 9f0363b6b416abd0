"""Layer-importance scores: pure functions of the captured statistics, plus a registry.

Convention for every method: ``per_layer[l]`` is an importance (higher = keep), ``ranking``
lists the layers from least to most important (ties broken by the lower index first) and
``selected[ratio]`` the layers removed at that pruning ratio. results/score/scores.json:
``{method: {"per_layer": [...], "ranking": [...], "selected": {"0.25": [...], ...}, ...}}``
for methods avss, block_influence, angular_distance, ppl_drop, drop_last, random.
Definitions and defaults are documented in docs/avss.md.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from avss.stats import (
    HistSpec,
    LayerStats,
    fraction_below,
    layer_variance,
    quantile_threshold,
)
from pipeutil.io import PipelineError

SPARSITY_MODES = ("absolute", "relative", "quantile")
COMBINATIONS = ("ratio", "variance_only", "density_product")
VARIANCE_SCALES = ("raw", "input_meansq")


@dataclass(frozen=True)
class ScoreConfig:
    variance_axis: str = "all"  # all values | per feature over tokens | per token over features
    sparsity_mode: str = "relative"  # absolute epsilon | epsilon x layer RMS | global |x| quantile
    sparsity_value: float = 0.01  # the epsilon, the relative factor or the quantile
    combination: str = "ratio"  # ratio NAV/NAS (paper) | variance_only | density_product NAV*(1-S)
    guard_delta: float = 1e-3  # added to every layer's sparsity before normalising (zero guard)
    variance_scale: str = "raw"  # raw | input_meansq: variance / E[x_in^2] of the layer (scale-free)
    cumulative_budget: float = 0.25  # cumulative rule: drop lowest normalised scores summing <= budget
    ratios: tuple[float, ...] = (0.125, 0.25, 0.375)  # pruning ratios of the sweep, each in (0, 1)
    counts: tuple[int, ...] = ()  # optional absolute numbers of layers to remove (key "selected_count")
    protect_first: bool = True  # never remove layer 0
    protect_last: bool = True  # never remove the last layer
    seed: int = 0  # seed of the random baseline
    methods: tuple[str, ...] = field(default=("avss", "block_influence", "angular_distance",
                                               "ppl_drop", "drop_last", "random"))


def layer_sparsity(layers: list[LayerStats], spec: HistSpec, mode: str, value: float) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of |x| below each layer's threshold, and the thresholds used: ([L], [L])."""
    if mode == "absolute":
        thr = np.full(len(layers), float(value))
    elif mode == "relative":
        thr = np.array([value * ls.rms for ls in layers])
    elif mode == "quantile":
        if not 0.0 < value < 1.0:
            raise PipelineError(f"score.avss.sparsity_value: quantile {value} is not in (0, 1)")
        thr = np.full(len(layers), quantile_threshold(np.sum([ls.hist for ls in layers], 0), spec, value))
    else:
        raise PipelineError(f"score.avss.sparsity_mode: {mode!r} is not one of {list(SPARSITY_MODES)}")
    sp = [_exact_or_hist(ls, spec, t) for ls, t in zip(layers, thr)]
    return np.array(sp, dtype=np.float64), thr


def _exact_or_hist(ls: LayerStats, spec: HistSpec, t: float) -> float:
    for known, frac in ls.exact_below.items():
        if math.isclose(known, t, rel_tol=1e-9):
            return frac
    return fraction_below(ls.hist, spec, t)


def normalise(x: np.ndarray, what: str) -> np.ndarray:
    total = float(np.sum(x))
    if not math.isfinite(total) or total <= 0:
        raise PipelineError(f"cannot normalise {what}: sum is {total} (all zero, negative or not finite)")
    return x / total


def avss(variance: np.ndarray, sparsity: np.ndarray, combination: str = "ratio", delta: float = 1e-3) -> dict:
    """NAV, NAS, raw AVSS and the normalised score per layer (all [L])."""
    nav = normalise(variance, "layer variances (NAV)")
    guarded = sparsity + delta  # [L]; delta > 0 keeps NAS away from zero
    if combination == "ratio" and np.any(guarded <= 0):
        zero = [int(i) for i in np.flatnonzero(guarded <= 0)]
        raise PipelineError(f"sparsity is zero in layer(s) {zero}: AVSS = NAV / NAS is undefined; "
                            "set score.avss.guard_delta > 0 or a relative/quantile sparsity threshold")
    nas = normalise(guarded, "layer sparsities (NAS)")
    if combination == "ratio":
        raw = nav / nas
    elif combination == "variance_only":
        raw = nav
    elif combination == "density_product":
        raw = nav * (1.0 - sparsity)
    else:
        raise PipelineError(f"score.avss.combination: {combination!r} is not one of {list(COMBINATIONS)}")
    return {"nav": nav, "nas": nas, "avss": raw, "normalised": normalise(raw, "AVSS")}


def cumulative_selection(normalised: np.ndarray, budget: float, protected: frozenset[int] = frozenset()) -> list[int]:
    """Sort ascending FIRST, then take layers while their cumulative normalised score <= budget.

    Protected layers are skipped (they neither get removed nor use up the budget).
    """
    order = np.array([i for i in np.argsort(normalised, kind="stable") if i not in protected], dtype=int)  # [L']
    cum = np.cumsum(normalised[order])  # [L']
    return sorted(int(i) for i in order[cum <= budget + 1e-12])


# ----------------------------------------------------------------------------- baselines
def block_influence(cos_in_out: np.ndarray) -> np.ndarray:
    """ShortGPT: BI_l = 1 - E_tokens[cos(x_in, x_out)]."""
    return 1.0 - np.asarray(cos_in_out, dtype=np.float64)


def angular_per_layer(angular: np.ndarray) -> np.ndarray:
    """Gromov et al. for one layer: d(x_l, x_{l+1}) = E_seq[arccos(cos) / pi] at the last token."""
    n = angular.shape[0] - 1
    return np.array([angular[i, i + 1] for i in range(n)], dtype=np.float64)


def angular_block(angular: np.ndarray, n: int, protect_first: bool, protect_last: bool) -> list[int]:
    """Gromov et al.: the n contiguous layers l*..l*+n-1 with l* = argmin_l d(x_l, x_{l+n})."""
    n_layers = angular.shape[0] - 1
    starts = [s for s in range(n_layers - n + 1)
              if not (protect_first and s == 0) and not (protect_last and s + n - 1 == n_layers - 1)]
    if n <= 0:
        return []
    if not starts:
        raise PipelineError(f"angular_distance: no block of {n} contiguous layers avoids the protected layers")
    best = min(starts, key=lambda s: (angular[s, s + n], s))
    return list(range(best, best + n))


def ppl_drop(dense: float, without: list[float]) -> np.ndarray:
    """Perplexity increase when layer l alone is removed: ppl_without_l - ppl_dense."""
    return np.asarray(without, dtype=np.float64) - float(dense)


def drop_last(n_layers: int) -> np.ndarray:
    """'Drop the last k': importance decreases with depth (l = L-1 is removed first)."""
    return np.arange(n_layers, 0, -1, dtype=np.float64)


def random_scores(n_layers: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n_layers)


# ----------------------------------------------------------------------------- selection
def ranking(per_layer: np.ndarray) -> list[int]:
    """Layers from least to most important (stable: equal scores keep index order)."""
    return [int(i) for i in np.argsort(np.asarray(per_layer), kind="stable")]


def n_to_remove(n_layers: int, ratio: float) -> int:
    """round-half-up(ratio * L), at least 1; ratio must lie in (0, 1)."""
    if not 0.0 < ratio < 1.0:
        raise PipelineError(f"pruning ratio {ratio} is outside (0, 1)")
    return max(1, math.floor(ratio * n_layers + 0.5))


def select_lowest(rank: list[int], k: int, n_layers: int, protect_first: bool, protect_last: bool) -> list[int]:
    """The first k layers of ``rank`` that are not protected, sorted."""
    protected = {0} if protect_first else set()
    protected |= {n_layers - 1} if protect_last else set()
    cand = [i for i in rank if i not in protected]
    if k > len(cand):
        raise PipelineError(f"cannot remove {k} of {n_layers} layers with {sorted(protected)} protected")
    return sorted(cand[:k])


@dataclass(frozen=True)
class ScoreInputs:
    """Everything the scores read: capture statistics and the leave-one-out perplexities."""
    layers: list[LayerStats]
    angular: np.ndarray  # [L + 1, L + 1]
    spec: HistSpec
    ppl: dict | None = None  # {"dense": float, "without": [float] * L} (avss.layer_ppl)
    in_meansq: np.ndarray | None = None  # [L] E[x_in^2] per layer (capture_sites); variance_scale input_meansq


def _avss(inp: ScoreInputs, cfg: ScoreConfig) -> tuple[np.ndarray, dict]:
    var = layer_variance(inp.layers, cfg.variance_axis)
    if cfg.variance_scale == "input_meansq":  # scale-free: the residual stream's growth with depth divided out
        if inp.in_meansq is None or len(inp.in_meansq) != len(var):
            raise PipelineError("variance_scale input_meansq needs E[x_in^2] per layer (results/capture/sites_*.npz)")
        var = var / np.asarray(inp.in_meansq, dtype=np.float64)
    elif cfg.variance_scale != "raw":
        raise PipelineError(f"variance_scale: {cfg.variance_scale!r} is not one of {list(VARIANCE_SCALES)}")
    sp, thr = layer_sparsity(inp.layers, inp.spec, cfg.sparsity_mode, cfg.sparsity_value)
    parts = avss(var, sp, cfg.combination, cfg.guard_delta)
    extra = {"variance": var, "sparsity": sp, "sparsity_threshold": thr, "nav": parts["nav"],
             "nas": parts["nas"], "avss_raw": parts["avss"],
             "cumulative": {"budget": cfg.cumulative_budget,
                            "selected": cumulative_selection(parts["normalised"], cfg.cumulative_budget,
                                                             _protected(len(inp.layers), cfg))}}
    return parts["normalised"], extra


def _protected(n_layers: int, cfg: ScoreConfig) -> frozenset[int]:
    return frozenset(([0] if cfg.protect_first else []) + ([n_layers - 1] if cfg.protect_last else []))


def _ppl_drop(inp: ScoreInputs, cfg: ScoreConfig) -> tuple[np.ndarray, dict]:
    if inp.ppl is None or len(inp.ppl.get("without", [])) != len(inp.layers):
        raise PipelineError("ppl_drop needs the leave-one-out perplexities of every layer (results/capture/ppl_drop.json)")
    return ppl_drop(inp.ppl["dense"], inp.ppl["without"]), {"ppl_dense": inp.ppl["dense"],
                                                             "ppl_without": inp.ppl["without"]}


ScoreFn = Callable[[ScoreInputs, ScoreConfig], tuple[np.ndarray, dict]]
REGISTRY: dict[str, tuple[str, ScoreFn]] = {
    "avss": ("normalised AVSS (NAV / NAS), arXiv 2411.02117", _avss),
    "block_influence": ("1 - cos(block input, block output), ShortGPT",
                        lambda i, c: (block_influence([ls.cos_in_out for ls in i.layers]), {})),
    "angular_distance": ("arccos(cos)/pi of the last token across the block, Gromov et al.",
                         lambda i, c: (angular_per_layer(i.angular), {})),
    "ppl_drop": ("perplexity increase when the layer alone is removed", _ppl_drop),
    "drop_last": ("remove the deepest layers first", lambda i, c: (drop_last(len(i.layers)), {})),
    "random": ("seeded random order", lambda i, c: (random_scores(len(i.layers), c.seed), {})),
}


def score_all(inp: ScoreInputs, cfg: ScoreConfig) -> dict:
    """scores.json content: per-layer scores, ranking and the layers removed at every ratio."""
    n = len(inp.layers)
    counts = {f"{r:g}": n_to_remove(n, r) for r in cfg.ratios}
    by_count = _check_counts(cfg.counts, n)
    out = {}
    for method in cfg.methods:
        if method not in REGISTRY:
            hint = difflib.get_close_matches(method, REGISTRY, n=1)
            raise PipelineError(f"score.methods: unknown method {method!r}"
                                + (f" (did you mean {hint[0]!r}?)" if hint else "") + f"; known: {list(REGISTRY)}")
        desc, fn = REGISTRY[method]
        per, extra = fn(inp, cfg)
        if not np.all(np.isfinite(per)):
            bad = [int(i) for i in np.flatnonzero(~np.isfinite(per))]
            raise PipelineError(f"{method}: NaN or inf score in layer(s) {bad}")
        rank = ranking(per)

        def pick(k: int, method=method, rank=rank) -> list[int]:
            if method == "angular_distance":
                return angular_block(inp.angular, k, cfg.protect_first, cfg.protect_last)
            return select_lowest(rank, k, n, cfg.protect_first, cfg.protect_last)

        out[method] = {"description": desc, "per_layer": per, "ranking": rank,
                       "selected": {key: pick(k) for key, k in counts.items()},
                       "selected_count": {str(k): pick(k) for k in by_count}, **extra}
    return out


def _check_counts(counts, n_layers: int) -> list[int]:
    bad = [c for c in counts if not 0 < int(c) < n_layers]
    if bad:
        raise PipelineError(f"score.counts: {bad} must lie in 1..{n_layers - 1} (cannot remove every layer "
                            f"of the {n_layers})")
    return [int(c) for c in counts]
