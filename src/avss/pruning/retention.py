"""Retention of a pruned (or otherwise modified) model relative to the dense model.

retention = pruned / dense for higher-is-better metrics, dense / pruned for lower-is-better ones
(perplexity), so 1.0 always means "nothing lost". Where the dense model is near chance, plain
retention flatters (chance itself "retains" chance/dense), so the chance-adjusted retention
(pruned - chance) / (dense - chance) is reported beside it, with the chance level of the task.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

# Below this margin over chance, the chance-adjusted ratio is numerically meaningless.
MIN_MARGIN = 1e-9


def retention(dense: float, pruned: float, higher_is_better: bool = True) -> float | None:
    """pruned / dense (higher is better) or dense / pruned (lower is better); None when undefined."""
    if dense is None or pruned is None or not (math.isfinite(dense) and math.isfinite(pruned)):
        return None
    num, den = (pruned, dense) if higher_is_better else (dense, pruned)
    return None if den == 0 else num / den


def chance_adjusted_retention(dense: float, pruned: float, chance: float | None) -> float | None:
    """(pruned - chance) / (dense - chance); None without a chance level or when dense <= chance."""
    if chance is None or dense is None or pruned is None:
        return None
    margin = dense - chance
    return None if margin <= MIN_MARGIN else (pruned - chance) / margin


def retention_rows(dense: Mapping[str, Mapping], pruned: Mapping[str, Mapping], **labels) -> list[dict]:
    """One row per (task, metric) comparing two evaluations (``TaskResult.to_dict()`` per task).

    ``labels`` (e.g. method, ratio, removed layers) are copied into every row.
    """
    rows = []
    for task, res in pruned.items():
        base = dense[task]
        for metric, value in res["metrics"].items():
            hib = res["higher_is_better"][metric]
            chance = res["chance"].get(metric)
            rows.append({
                **labels, "task": task, "metric": metric, "primary": metric == res["primary"],
                "higher_is_better": hib, "n": res["n"], "dense": base["metrics"][metric], "pruned": value,
                "stderr": res["stderr"].get(metric), "chance": chance,
                "retention": retention(base["metrics"][metric], value, hib),
                "chance_adjusted_retention": chance_adjusted_retention(base["metrics"][metric], value, chance)
                if hib else None,
            })
    return rows


def mean_retention(rows: Iterable[dict], key: str = "retention") -> float | None:
    """Mean of ``key`` over the primary-metric rows that have it (None if none has)."""
    vals = [r[key] for r in rows if r["primary"] and r.get(key) is not None]
    return sum(vals) / len(vals) if vals else None
