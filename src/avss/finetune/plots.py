"""Plot of the evaluate_hallucination phase: relative change of every metric per variant (PNG, atomic)."""
from __future__ import annotations

import numpy as np

from pipeutil.figures import plt, save_figure


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
    save_figure(fig, out_png)
