"""Report figures of the detector phases: training curve (train_detector), F1 per subset (detect)."""
from __future__ import annotations

import numpy as np

from pipeutil.figures import plt, save_figure


def plot_curve(curve: list[dict], val: dict, path: str) -> None:
    """Training loss against step, with the validation F1 per subset in the title."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([c["step"] for c in curve], [c["loss"] for c in curve], marker="o", ms=3)
    ax.set(xlabel="step", ylabel="weighted BCE", yscale="log", title="heatmap detector training")
    if val:
        subs = ", ".join(f"{k} {v['f1']:.2f}" for k, v in val.get("subsets", {}).items())
        ax.set_title(f"val F1 {val['overall']['f1']:.3f} ({subs})", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100, tight=False)


def plot_f1(result: dict, path: str) -> None:
    """Grouped bars: F1 per subset and detector."""
    groups = ["overall", "clean", "occluded", "low_light", "blurred"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    dets = list(result["detectors"])
    for k, name in enumerate(dets):
        m = result["detectors"][name]
        vals = [m["overall"]["f1"]] + [m["subsets"].get(g, {}).get("f1", np.nan) for g in groups[1:]]
        ax.bar(np.arange(len(groups)) + (k - (len(dets) - 1) / 2) * 0.8 / len(dets), vals, 0.8 / len(dets), label=name)
    ax.axhline(0.95, ls="--", c="k", lw=0.8)
    ax.axhline(0.85, ls=":", c="k", lw=0.8)
    ax.set(xticks=range(len(groups)), xticklabels=groups, ylim=(0, 1.05), ylabel=f"F1 within {result['metric_params']['tol_px']} px")
    if dets:
        ax.legend(fontsize=8)
    else:  # e.g. only real footage was detected: nothing to score
        ax.text(0.5, 0.5, "no scene with ground truth: nothing scored", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    save_figure(fig, path, dpi=100, tight=False)
