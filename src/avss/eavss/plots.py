"""Plots of the EAVSS phase and of the hallucination evaluation (PNG, written atomically)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pipeutil.io import atomic_path


def _save(fig, path: str) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_scores(scores: dict, avss_per_layer: list[float] | None, top_k: int, out_png: str) -> None:
    """Per-layer HSAV, HSS and EAVSS per fold (selected layers marked) and AVSS's ranking beside them."""
    folds = scores["folds"]
    n = scores["n_layers"]
    x = np.arange(n)
    fig, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
    for (key, title), ax in zip([("hsav", "HSAV"), ("hss", "HSS"), ("eavss", "EAVSS")], axes):
        for f, sc in folds.items():
            y = np.asarray(sc[key])
            ax.plot(x, y, marker=".", label=f"fold {f}")
            sel = sc["selected"]
            ax.scatter(sel, y[sel], s=80, facecolors="none", edgecolors="red")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[2].set_title(f"red circles: EAVSS top-{top_k} (selected for fine-tuning)", fontsize=9)
    ax = axes[3]
    if avss_per_layer is not None:
        a = np.asarray(avss_per_layer, dtype=float)
        top = sorted(range(n), key=lambda i: (-a[i], i))[:top_k]
        ax.bar(x, a, color="lightgray", label="AVSS importance (score phase)")
        ax.bar(top, a[top], color="tab:blue", label=f"AVSS top-{top_k}")
    sel_any = sorted({i for sc in folds.values() for i in sc["selected"]})
    for i in sel_any:
        ax.axvspan(i - 0.4, i + 0.4, color="red", alpha=0.15)
    ax.set_ylabel("AVSS")
    ax.set_xlabel("decoder layer")
    ax.set_title("AVSS importance; red bands: EAVSS-selected layers (any fold)", fontsize=9)
    if avss_per_layer is not None:
        ax.legend(loc="upper left", fontsize=8)
    _save(fig, out_png)


def plot_changes(table: list[dict], out_png: str) -> None:
    """Grouped bars: relative change (%) vs the base model per task metric and variant."""
    metrics = sorted({(r["task"], r["metric"]) for r in table})
    variants = [v for v in dict.fromkeys(r["variant"] for r in table) if v != "base"]
    fig, ax = plt.subplots(figsize=(max(7, 1.2 * len(metrics)), 4))
    width = 0.8 / max(len(variants), 1)
    for j, v in enumerate(variants):
        vals = []
        for t, m in metrics:
            row = next((r for r in table if r["variant"] == v and r["task"] == t and r["metric"] == m), None)
            rel = row.get("relative_change") if row else None
            vals.append(100.0 * rel if rel is not None else np.nan)
        ax.bar(np.arange(len(metrics)) + j * width - 0.4 + width / 2, vals, width, label=v)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(metrics)), [f"{t}\n{m}" for t, m in metrics], fontsize=8)
    ax.set_ylabel("relative change vs base (%)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, out_png)
