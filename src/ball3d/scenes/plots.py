"""Report figures of the vision phases: camera layout, frames with the true ball, calibration errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ball3d.camera import Camera
from ball3d.pitch import line_polylines
from ball3d.videoio import iter_frames
from pipeutil.figures import plt, save_figure


def camera_layout(truth: dict, path: str | Path) -> None:
    """Top view of the pitch, each camera's centre, viewing direction and ground footprint, the ball path."""
    fig, ax = plt.subplots(figsize=(9, 6.5))
    for pl in line_polylines():
        ax.plot(pl[:, 0], pl[:, 1], color="0.6", lw=0.8)
    for c in truth["cameras"]:
        cam = Camera.from_dict(c)
        C = cam.center
        corners = np.array([[0, 0], [cam.width, 0], [cam.width, cam.height], [0, cam.height], [0, 0]], float)
        rays = np.linalg.solve(cam.K, np.c_[corners, np.ones(5)].T).T @ cam.R  # world directions
        s = np.where(rays[:, 2] < -1e-6, -C[2] / np.minimum(rays[:, 2], -1e-6), 150.0)
        foot = C + rays * np.minimum(s, 150.0)[:, None]
        ax.plot(foot[:, 0], foot[:, 1], lw=0.8)
        ax.plot(*C[:2], "o", color=ax.lines[-1].get_color())
        ax.annotate(f"{cam.name} ({C[2]:.0f} m)", C[:2], textcoords="offset points", xytext=(4, 4), fontsize=8)
    xyz = np.array(truth["ball_xyz"])
    ax.plot(xyz[:, 0], xyz[:, 1], "k-", lw=1.5, label="ball (ground truth)")
    ax.set_aspect("equal")
    ax.set_xlim(-95, 95)
    ax.set_ylim(-70, 70)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"Camera layout and ground footprints, scene {truth['scene_id']}")
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)


def frames_with_ball(scene_dir: str | Path, truth: dict, frame: int, path: str | Path) -> None:
    """One frame of every camera with the ground-truth ball position circled."""
    names = list(truth["per_camera"])
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        pc = truth["per_camera"][name]
        img = next(f for i, f in iter_frames(Path(scene_dir) / pc["video"]) if i == frame)
        ax.imshow(img[:, :, ::-1])
        uv = pc["uv"][frame]
        if uv is not None:
            r = max(12, img.shape[1] / 80)
            ax.add_patch(plt.Circle(uv, r, fill=False, color="red", lw=1.2))
        ax.set_title(f"{name}: visible {pc['visible_fraction'][frame]:.2f}, blur {pc['blur_px'][frame]:.1f} px"
                     + (", low light" if pc["low_light"] else ""), fontsize=8)
        ax.axis("off")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"Scene {truth['scene_id']}, frame {frame}: ground-truth ball circled")
    save_figure(fig, path)


