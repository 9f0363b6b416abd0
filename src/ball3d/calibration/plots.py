"""Report figure of phase ``calibrate``: per-camera errors, the line-alignment residual and the
pose errors of the comparison solutions (initial guess, lines without the sub-pixel step,
landmarks_truth = simulated clicks), from ``calib_scene.summarise``'s output."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeutil.figures import plt, save_figure

PANELS = [("rms_px", "board RMS (px)"), ("line_residual_px", "line residual (px)"),
          ("focal_pct", "focal length (%)"), ("principal_point_px", "principal point (px)"),
          ("centre_cm", "camera centre (cm)"), ("rotation_deg", "rotation (deg)"),
          ("reprojection_vs_truth_px", "reprojection vs truth at 50 m (px)")]
COMPARED = ("centre_cm", "rotation_deg", "reprojection_vs_truth_px")  # panels that also show comparison bars
COMPARE_LABELS = ("landmarks_truth", "lines_dt_only")  # the initial guess is off the scale: summary.json only


def _values(rows: list[dict], key: str, label: str | None = None) -> np.ndarray:
    if label is None:
        return np.array([r.get(key, np.nan) for r in rows], float)
    return np.array([r.get("compare_vs_truth", {}).get(label, {}).get(key, np.nan) for r in rows], float)


def calibration_errors(summary: dict, path: str | Path) -> None:
    """Bar charts per camera and scene; cameras without truth (real footage) have no error bars."""
    rows = summary["per_camera"]
    panels = [(k, t) for k, t in PANELS if np.isfinite(_values(rows, k)).any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.8), squeeze=False)
    x = np.arange(len(rows))
    used = ", ".join(summary.get("extrinsics", []))
    for ax, (k, title) in zip(axes.flat, panels):
        series = [(f"calibrated ({used})", None)]
        if k in COMPARED:
            series += [(lab, lab) for lab in COMPARE_LABELS if np.isfinite(_values(rows, k, lab)).any()]
        width = 0.8 / len(series)
        for i, (name, lab) in enumerate(series):
            ax.bar(x + (i - (len(series) - 1) / 2) * width, _values(rows, k, lab), width, label=name)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels([f"{r['scene']}\n{r['camera']}" for r in rows], rotation=90, fontsize=5)
        if len(series) > 1:
            ax.legend(fontsize=6)
    fig.suptitle("Calibration per camera (errors: estimated vs ground truth; real footage has none)")
    fig.tight_layout()
    save_figure(fig, path)
