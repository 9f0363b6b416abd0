"""Plots of the 3D evaluation: trajectory vs truth, error over time, detections on frames, sweeps."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from ball3d.camera import Camera
from pipeutil.figures import plt, save_figure

from .metrics import track_errors

log = logging.getLogger(__name__)
COLORS = {"dlt": "tab:gray", "ransac": "tab:orange", "ransac_seq": "tab:brown", "graph_robust": "tab:blue", "graph_smoothed": "tab:green",
          "graph_smoothed_skew": "tab:olive",
          "streaming_filtered": "tab:purple", "streaming_fixed_lag": "tab:red"}


def empty_note(payload: dict, methods) -> str | None:
    """"no 3D estimate" and the most common reason, when none of ``methods`` returned a frame (else None)."""
    tracks = [payload["tracks"][m] for m in methods if m in payload["tracks"]]
    if any(t["frames"] for t in tracks):
        return None
    reasons = [r for t in tracks for r in t.get("meta", {}).get("missing", {}).values()]
    top = max(set(reasons), key=reasons.count) if reasons else "no track in the bundle file"
    return f"no 3D estimate in any frame ({top})"


def _note(ax, text: str | None) -> None:
    if text:
        ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, wrap=True,
                bbox={"facecolor": "white", "alpha": 0.8})


def plot_trajectory(payload: dict, truth: dict, path) -> str | None:
    """Top view and height over time of the truth, the smoothed graph and the per-frame DLT; returns the
    note drawn when neither method has a frame."""
    xyz = np.asarray(truth["ball_xyz"], float)  # (T, 3)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    ax1.plot(xyz[:, 0], xyz[:, 1], "k-", lw=2, label="truth")
    ax2.plot(np.arange(len(xyz)), xyz[:, 2], "k-", lw=2, label="truth")
    shown = ("ransac", "graph_smoothed")
    for m in shown:
        t = payload["tracks"].get(m)
        if t and t["frames"]:
            p = np.asarray(t["xyz"], float)
            style = "." if m == "ransac" else "-"
            ax1.plot(p[:, 0], p[:, 1], style, color=COLORS[m], ms=3, label=m)
            ax2.plot(t["frames"], p[:, 2], style, color=COLORS[m], ms=3, label=m)
    ax1.set(xlabel="x (m)", ylabel="y (m)", title=f"{truth['scene_id']}: top view", aspect="equal")
    ax2.set(xlabel="frame", ylabel="height z (m)", title="height")
    ax1.legend(fontsize=8)
    note = empty_note(payload, shown)
    _note(ax2, note)
    save_figure(fig, path, dpi=90)
    return note


def plot_errors(payload: dict, truth: dict, path) -> str | None:
    """Per-frame 3D error of every method (log scale); returns the note drawn when no method has a frame."""
    xyz = np.asarray(truth["ball_xyz"], float)
    fig, ax = plt.subplots(figsize=(11, 4))
    for m, t in payload["tracks"].items():
        frames, err = track_errors(t, xyz)
        if len(frames):
            ax.semilogy(frames, np.maximum(err, 1e-4), ".-", ms=2, lw=0.6, color=COLORS.get(m), label=m)
    ax.set(xlabel="frame", ylabel="3D error (m)", title=f"{truth['scene_id']}: error over time")
    note = empty_note(payload, payload["tracks"])
    if note is None:
        ax.legend(fontsize=8, ncol=3)
    _note(ax, note)
    save_figure(fig, path, dpi=90)
    return note


def _read_frame(video: Path, frame: int, cam: Camera) -> np.ndarray:
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, img = cap.read()
    cap.release()
    if not ok:
        log.warning("%s: cannot read frame %d; drawing on a blank canvas", video, frame)
        return np.zeros((cam.height, cam.width, 3), np.uint8)
    return img[:, :, ::-1]


def plot_detections(payload: dict, truth: dict, detections: dict, cameras: list[Camera], scene_dir, frame: int,
                    path) -> None:
    """One frame of every camera: candidates (yellow), truth (cyan) and the smoothed 3D point reprojected (red)."""
    smoothed = payload["tracks"].get("graph_smoothed", {"frames": [], "xyz": []})
    X = dict(zip(smoothed["frames"], smoothed["xyz"])).get(frame)
    n = len(cameras)
    cols = min(n, 3)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(5.5 * cols, 3.4 * ((n + cols - 1) // cols)),
                             squeeze=False)
    for ax, cam in zip(axes.ravel(), cameras):
        img = _read_frame(Path(scene_dir) / truth["per_camera"][cam.name]["video"], frame, cam)
        ax.imshow(img, extent=(0, cam.width, cam.height, 0))
        cands = np.asarray(detections.get(cam.name, [[]] * (frame + 1))[frame], float).reshape(-1, 3)
        ax.scatter(cands[:, 0], cands[:, 1], s=60, facecolors="none", edgecolors="yellow", label="candidates")
        uv = truth["per_camera"][cam.name]["uv"][frame]
        if uv is not None:
            ax.plot(*uv, "c+", ms=10, label="truth")
        if X is not None:
            p, _ = cam.project(np.asarray(X)[None])
            ax.plot(p[0, 0], p[0, 1], "rx", ms=10, label="3D (smoothed)")
        ax.set(title=f"{cam.name}, frame {frame}", xticks=[], yticks=[])
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7, loc="lower left")
    save_figure(fig, path, dpi=90)


def plot_sweeps(rows: list[dict], path) -> None:
    """RMSE against each swept quantity, one panel per axis, one line per method."""
    axes_names = list(dict.fromkeys(r["axis"] for r in rows))
    fig, axes = plt.subplots(1, max(len(axes_names), 1), figsize=(4.5 * max(len(axes_names), 1), 3.8), squeeze=False)
    for ax, name in zip(axes[0], axes_names):
        sub = [r for r in rows if r["axis"] == name]
        for m in dict.fromkeys(r["method"] for r in sub):
            pts = sorted((r["value"], r["rmse_m"]) for r in sub if r["method"] == m)
            ax.semilogy([p[0] for p in pts], [max(p[1], 1e-4) for p in pts], "o-", color=COLORS.get(m), label=m)
        ax.set(xlabel=name, ylabel="RMSE (m)", title=f"sweep: {name}")
    axes[0][0].legend(fontsize=7)
    save_figure(fig, path, dpi=90)
