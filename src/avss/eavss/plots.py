"""Plot of the eavss phase: HSAV, HSS and EAVSS per layer and fold, beside AVSS (PNG, written atomically)."""
from __future__ import annotations

import numpy as np

from pipeutil.figures import plt, save_figure


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
    save_figure(fig, out_png)


