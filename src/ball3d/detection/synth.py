"""Tiny synthetic 2D clips for detector tests and benchmarks (not the 3D scene renderer).

Writes a scene folder with the layout of ``ball3d.records`` (truth.json + one video per camera):
a grass background with white lines, a bright ball moving on a parabola, dark moving occluders
("players"), optional motion blur, low light with sensor noise. Only the per-camera 2D truth is
meaningful; 3D fields are placeholders.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ball3d.constants import BALL_RADIUS_M
from pipeutil.io import atomic_path, write_json


def _background(rng: np.random.Generator, W: int, H: int) -> np.ndarray:
    bg = np.zeros((H, W, 3), np.float32)
    bg[:] = (40, 120, 45)  # BGR grass
    bg += rng.normal(0, 4, (H, W, 1)).astype(np.float32)  # texture
    for _ in range(3):  # pitch lines
        if rng.random() < 0.5:
            x = int(rng.integers(0, W))
            cv2.line(bg, (x, 0), (x + int(rng.integers(-W // 4, W // 4)), H), (220, 220, 220), 2)
        else:
            y = int(rng.integers(0, H))
            cv2.line(bg, (0, y), (W, y + int(rng.integers(-H // 4, H // 4))), (220, 220, 220), 2)
    return bg


def _ball_path(rng: np.random.Generator, W: int, H: int, T: int) -> np.ndarray:
    """(T, 2) ball centre: a bouncing parabola across the frame."""
    t = np.arange(T, dtype=np.float64)
    u0, u1 = rng.uniform(0.1, 0.3) * W, rng.uniform(0.7, 0.9) * W
    if rng.random() < 0.5:
        u0, u1 = u1, u0
    u = u0 + (u1 - u0) * t / max(1, T - 1)
    phase = (t / max(1, T - 1)) * rng.uniform(1.0, 2.0) * np.pi
    v = H * (0.75 - 0.5 * np.abs(np.sin(phase)))
    return np.stack([u, v], 1)


def render_camera(rng: np.random.Generator, W: int, H: int, T: int, radius: float, low_light: bool,
                  blur: bool, n_occluders: int = 2) -> tuple[np.ndarray, dict]:
    """Frames (T, H, W, 3) uint8 and per-camera truth (uv, visible_fraction, blur_px, low_light)."""
    bg = _background(rng, W, H)
    path = _ball_path(rng, W, H, T)
    occ = [(rng.uniform(0, W), rng.uniform(0.3, 0.8) * H, rng.uniform(-2, 2), rng.uniform(0.06, 0.1) * W,
            rng.uniform(0.2, 0.35) * H) for _ in range(n_occluders)]  # x, y, vx, width, height
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    frames, uvs, vis, blurs = [], [], [], []
    for t in range(T):
        img = bg.copy()
        nxt = path[min(T - 1, t + 1)] - path[t]
        n_sub = 5 if blur else 1
        disc = np.zeros((H, W), np.float32)
        for s in range(n_sub):  # average of sub-exposures along the motion = motion blur
            c = path[t] + nxt * (s / (n_sub - 1) - 0.5 if n_sub > 1 else 0.0)
            disc += np.clip(radius + 0.5 - np.hypot(xx - c[0], yy - c[1]), 0, 1) / n_sub
        occ_mask = np.zeros((H, W), np.float32)
        for x, y, vx, w, h in occ:
            cx = (x + vx * t) % W
            occ_mask[int(y - h / 2):int(y + h / 2), int(max(0, cx - w / 2)):int(cx + w / 2)] = 1
        shown = disc * (1 - occ_mask)
        img = img * (1 - shown[..., None]) + np.float32(250) * shown[..., None]
        img = img * (1 - occ_mask[..., None]) + np.array([60, 30, 140], np.float32) * occ_mask[..., None]
        if low_light:
            img = img * 0.25 + rng.normal(0, 5, img.shape).astype(np.float32)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        uvs.append([float(path[t, 0]), float(path[t, 1])])
        vis.append(float(shown.sum() / max(disc.sum(), 1e-6)))
        blurs.append(float(np.hypot(*nxt)) if blur else 0.0)
    return np.stack(frames), {"uv": uvs, "visible_fraction": vis, "blur_px": blurs, "low_light": low_light}


def write_scene(out_dir: str | Path, seed: int, n_cams: int = 2, size: tuple[int, int] = (160, 96),
                n_frames: int = 24, radius: float = 3.0, low_light_cams: tuple[int, ...] = (),
                blur_cams: tuple[int, ...] = ()) -> dict:
    """Render a tiny scene folder (truth.json + cam<i>.avi); return the truth dict."""
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    W, H = size
    per_camera = {}
    for i in range(n_cams):
        name = f"cam{i}"
        frames, pc = render_camera(rng, W, H, n_frames, radius, i in low_light_cams, i in blur_cams)
        with atomic_path(out / f"{name}.avi") as tmp:
            vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"FFV1"), 25.0, (W, H))
            for f in frames:
                vw.write(f)
            vw.release()
        per_camera[name] = {"video": f"{name}.avi", "calib_video": "", **pc}
    truth = {"scene_id": out.name, "seed": seed, "split": "test", "fps": 25.0, "n_frames": n_frames,
             "ball_radius_m": BALL_RADIUS_M, "cameras": [], "ball_xyz": [[0.0, 0.0, 0.0]] * n_frames,
             "per_camera": per_camera, "landmarks": {"names": [], "xyz": []}}
    write_json(out / "truth.json", truth)
    return truth
