"""Retention before and after healing: the summary section and the plot of the healed runs.

Rows come from ``report.table_rows`` (key ``heal``: ``none`` = pruned as is, ``patch`` = linear patch,
``patch+lora`` = LoRA heal of the patched model, ``lora`` = LoRA heal of the pruned model). A
healed model is evaluated on the items of its pruned run, so both share one resample-count matrix per task
and ``patched - pruned`` is a paired difference resample by resample.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import stats as _st

from pipeutil.figures import plt, save_figure

from . import uncertainty as U

ORDER = ("none", "patch", "patch+lora", "lora")
LABEL = {"none": "pruned", "patch": "patched", "patch+lora": "patched + LoRA", "lora": "LoRA"}


def _ci(b: U.Boot | None, n: int) -> str:
    if b is None or not math.isfinite(b.estimate):
        return "n/a"
    iv = b.interval(n)
    return f"{iv.estimate:.3f} [{iv.low:.3f}, {iv.high:.3f}]"


def _cells(rows: Sequence[dict], ratio: float) -> dict:
    """{(method, stage, task): primary-metric row} at ``ratio``."""
    return {(r["method"], r["heal"], r["task"]): r for r in rows
            if r["primary"] and r["ratio"] > 0 and abs(r["ratio"] - ratio) < 1e-9}


def _mark(b: U.Boot | None, n: int, threshold: float) -> str:
    if b is None or not math.isfinite(b.estimate):
        return "n/a"
    iv = b.interval(n)
    return "yes" if iv.low >= threshold else ("no" if iv.high < threshold else "undecided")


def _stages(cells: Mapping) -> list[str]:
    present = {stage for (_m, stage, _t) in cells}
    return [s for s in ORDER if s in present]


def heal_markdown(rows: Sequence[dict], ratio: float = 0.25, threshold: float = 0.9,
                  patches: Mapping | None = None) -> list[str]:
    """Markdown lines: per healed method and task, the retention pruned and after each healing with the paired
    difference to pruned; the ranking of the methods by mean retention at each stage; the chance-adjusted
    threshold on SciQ; the fit of the linear patches."""
    cells = _cells(rows, ratio)
    stages = _stages(cells)
    healed = list(dict.fromkeys(m for (m, stage, _t) in cells if stage != "none"))
    if not healed:
        return []
    tasks = list(dict.fromkeys(t for (m, stage, t) in cells if m in healed and stage != "none"))
    later = [s for s in stages if s != "none"]
    lines = ["", (f"## Healing at {ratio:.1%}: {', '.join(LABEL[s] for s in stages)} (primary metric, retention with "
                  "95 % paired-bootstrap intervals; healed models use the items of their pruned run)"), "",
             "| method | task | n | " + " | ".join(LABEL[s] for s in stages) + " | "
             + " | ".join(f"{LABEL[s]} - pruned" for s in later) + " |",
             "|---|---|---|" + "---|" * (len(stages) + len(later))]
    for m in healed:
        for t in tasks:
            p = cells.get((m, "none", t))
            if p is None:
                continue
            n, bp = p["n"], p["_boot"]["retention"]
            row = [_ci(cells[(m, s, t)]["_boot"]["retention"] if (m, s, t) in cells else None, n) for s in stages]
            for s in later:
                bh = cells[(m, s, t)]["_boot"]["retention"] if (m, s, t) in cells else None
                ok = all(b is not None and math.isfinite(b.estimate) for b in (bp, bh))
                if ok:
                    iv = (bh - bp).interval(n)
                    row.append(f"{iv.estimate:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}] "
                               f"({'better' if iv.low > 0 else 'worse' if iv.high < 0 else 'indistinguishable'})")
                else:
                    row.append("n/a")
            lines.append(f"| {m} | {t} | {n} | " + " | ".join(row) + " |")
    lines += _ranking(cells, healed, tasks, stages)
    if "sciq" in tasks:
        lines += ["", (f"Chance-adjusted retention on SciQ at or above {threshold:.0%}? (yes: the whole 95 % interval at "
                       "or above; no: entirely below; the estimate and interval in brackets):"), "",
                  "| method | " + " | ".join(LABEL[s] for s in stages) + " |", "|---|" + "---|" * len(stages)]
        for m in healed:
            marks = []
            for s in stages:
                r = cells.get((m, s, "sciq"))
                b = r["_boot"]["chance_adjusted_retention"] if r else None
                marks.append(f"{_mark(b, r['n'], threshold)} ({_ci(b, r['n'])})" if r else "n/a")
            lines.append(f"| {m} | {' | '.join(marks)} |")
    if patches:
        lines += ["", ("Fit of the linear patches on the calibration tokens (relative squared error of the hidden "
                       "state leaving each span; T = I is the plain pruned model):"), "",
                  "| model | span | fold layer | tokens | error pruned | error patched |", "|---|---|---|---|---|---|"]
        for key, spans in patches.items():
            for s in spans:
                lines.append(f"| {key} | {s['start']}..{s['end']} | {s['fold']} | {s['n_tokens']} | "
                             f"{s['rel_error_pruned']:.4f} | {s['rel_error']:.4f} |")
    return lines


def _ranking(cells: Mapping, healed: Sequence[str], tasks: Sequence[str], stages: Sequence[str]) -> list[str]:
    """Mean retention over the tasks defined for every healed method at every stage; Kendall's tau of each
    healed ranking against the pruned one; the best healed method against the others."""
    def boot(m, s, t):
        r = cells.get((m, s, t))
        return None if r is None else r["_boot"]["retention"]
    common = [t for t in tasks if all(boot(m, s, t) is not None and math.isfinite(boot(m, s, t).estimate)
                                      for m in healed for s in stages)]
    if not common:
        return []
    means = {s: {m: U.mean_boot([boot(m, s, t) for t in common]) for m in healed} for s in stages}
    order = {s: sorted(healed, key=lambda m: -means[s][m].estimate) for s in stages}
    lines = ["", f"Ranking by mean retention over {', '.join(common)} (rank in brackets):", "",
             "| method | " + " | ".join(LABEL[s] for s in stages) + " |", "|---|" + "---|" * len(stages)]
    for m in order["none"]:
        lines.append(f"| {m} | " + " | ".join(f"{_ci(means[s][m], len(common))} ({order[s].index(m) + 1})"
                                              for s in stages) + " |")
    if len(healed) >= 2:
        lines.append("")
        for s in stages[1:]:
            tau = _st.kendalltau([order["none"].index(m) for m in healed], [order[s].index(m) for m in healed])[0]
            best = order[s][0]
            lines.append(f"- {LABEL[s]}: Kendall's tau with the pruned ranking {tau:.2f} (1 = the ranking survives); "
                         f"best {best}; " + "; ".join(
                             U.verdict(best, o, (means[s][best] - means[s][o]).interval(len(common)))
                             for o in order[s][1:]))
    return lines


def plot_healing(rows: Sequence[dict], path: str | Path, ratio: float = 0.25, threshold: float = 0.9) -> None:
    """One panel per task: retention of every healed method, pruned and after each healing side by side (95 %
    intervals)."""
    cells = _cells(rows, ratio)
    healed = list(dict.fromkeys(m for (m, stage, _t) in cells if stage != "none"))
    tasks = list(dict.fromkeys(t for (m, stage, t) in cells if m in healed)) or ["none"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(3.6, 0.9 * len(healed) + 1.5) * len(tasks) / 1.5, 3.6),
                             squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        stages = _stages(cells)
        width = 0.8 / max(len(stages), 1)
        for k, stage in enumerate(stages):
            pts = [cells.get((m, stage, task)) for m in healed]
            x = np.arange(len(healed)) + (k - (len(stages) - 1) / 2) * width
            y = np.array([r["retention"] if r and r["retention"] is not None else np.nan for r in pts], dtype=float)
            lo = np.array([r["retention_low"] if r and r["retention_low"] is not None else np.nan for r in pts], float)
            hi = np.array([r["retention_high"] if r and r["retention_high"] is not None else np.nan for r in pts], float)
            ax.bar(x, y, width=width, label=LABEL[stage])
            ax.errorbar(x, y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)], fmt="none", ecolor="k", capsize=2)
        ax.axhline(threshold, color="grey", ls="--", lw=1)
        ax.set_xticks(range(len(healed)), healed, rotation=45, ha="right", fontsize=7)
        ax.set_title(task, fontsize=9)
    axes[0, 0].set_ylabel(f"retention at {ratio:g} (95 % interval)")
    axes[0, -1].legend(fontsize=7)
    save_figure(fig, path)
