"""Plots of the score phase: per-layer scores of every method, and the parts of AVSS."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeutil.figures import plt, save_figure


def plot_per_layer(scores: dict, path, ratio: str = "0.25") -> None:
    """One panel per method: per-layer importance, layers removed at ``ratio`` in red."""
    methods = [m for m in scores if not m.startswith("_")]
    fig, axes = plt.subplots(len(methods), 1, figsize=(8, 1.8 * len(methods)), sharex=True, squeeze=False,
                             layout="constrained")
    for ax, m in zip(axes[:, 0], methods):
        per = np.asarray(scores[m]["per_layer"], dtype=float)  # [L]
        removed = set(scores[m]["selected"].get(ratio, []))
        colors = ["tab:red" if i in removed else "tab:blue" for i in range(len(per))]
        ax.bar(range(len(per)), per, color=colors)
        ax.set_ylabel(m, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel(f"decoder layer (red: removed at ratio {ratio})")
    fig.suptitle("Per-layer importance (higher = keep)", fontsize=10)
    save_figure(fig, path)


def plot_avss_parts(scores: dict, path) -> None:
    """Variance (log), sparsity, NAV, NAS and the normalised AVSS per layer."""
    a = scores["avss"]
    parts = [("variance", True), ("sparsity", False), ("nav", False), ("nas", False), ("per_layer", False)]
    fig, axes = plt.subplots(len(parts), 1, figsize=(8, 1.7 * len(parts)), sharex=True, layout="constrained")
    for ax, (key, log) in zip(axes, parts):
        y = np.asarray(a[key], dtype=float)  # [L]
        ax.plot(range(len(y)), y, marker="o", ms=3)
        if log:
            ax.set_yscale("log")
        ax.set_ylabel("normalised AVSS" if key == "per_layer" else key, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("decoder layer")
    fig.suptitle("AVSS components", fontsize=10)
    save_figure(fig, path)


def plot_scores_file(scores_json, per_layer_png, avss_png) -> None:
    scores = json.loads(Path(scores_json).read_text())
    keys = list(next(v for k, v in scores.items() if not k.startswith("_"))["selected"])
    plot_per_layer(scores, per_layer_png, "0.25" if "0.25" in keys or not keys else keys[len(keys) // 2])
    if "avss" in scores:
        plot_avss_parts(scores, avss_png)
    else:  # keep the declared output even when AVSS is not among the methods
        fig = plt.figure(figsize=(3, 1))
        fig.text(0.1, 0.5, "avss not in score.methods")
        save_figure(fig, avss_png)
