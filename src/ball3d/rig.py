"""Ground-truth camera rig around the pitch, from the ``scenes.cameras`` parameters.

Cameras sit on an ellipse around the pitch (or at explicit positions), look at a point pulled
towards their side of the pitch, and get seeded per-scene jitter of position, aim, focal length,
principal point and distortion so that every scene has its own calibration problem.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeutil.io import PipelineError

from .camera import Camera, look_at
from .pitch import LENGTH, WIDTH


def nominal_poses(cfg: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, eye, target) per camera: explicit ``positions`` or ``count`` cameras on an ellipse."""
    if cfg.get("positions"):
        out = []
        for i, p in enumerate(cfg["positions"]):
            out.append((p.get("name", f"cam{i}"), np.asarray(p["eye"], float), np.asarray(p["target"], float)))
        return out
    n = int(cfg["count"])
    a, b = LENGTH / 2 + cfg["distance_m"], WIDTH / 2 + cfg["distance_m"]
    out = []
    for i in range(n):
        ang = np.deg2rad(cfg.get("first_angle_deg", 30.0)) + 2 * np.pi * i / n
        eye = np.array([a * np.cos(ang), b * np.sin(ang), cfg["height_m"]])
        target = np.array([eye[0] * cfg["aim_fraction"], eye[1] * cfg["aim_fraction"], 0.0])
        out.append((f"cam{i}", eye, target))
    return out


def make_rig(cfg: dict, width: int, height: int, fps: float, rng: np.random.Generator) -> list[Camera]:
    """Ground-truth cameras of one scene (jittered around the nominal rig)."""
    jit = cfg["jitter"]
    cams = []
    names = set()
    for name, eye, target in nominal_poses(cfg):
        if name in names:
            raise PipelineError(f"params.yaml: scenes.cameras: duplicate camera name {name!r}")
        names.add(name)
        eye = eye + rng.normal(0, jit["position_m"], 3)
        target = target + np.r_[rng.normal(0, jit["aim_m"], 2), 0.0]
        R, t = look_at(eye, target)
        f = cfg["focal_px"] * width / 1920.0 * (1 + rng.normal(0, jit["focal_frac"]))
        cx = (width - 1) / 2 + rng.normal(0, jit["principal_px"]) * width / 1920.0
        cy = (height - 1) / 2 + rng.normal(0, jit["principal_px"]) * width / 1920.0
        K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
        dist = np.asarray(cfg["dist"], float) * (1 + rng.normal(0, jit["dist_frac"], 5))
        cams.append(Camera(name=name, K=K, dist=dist, R=R, t=t, width=width, height=height, fps=fps,
                           meta={"source": "ground truth (rendered scene)"}))
    return cams


def undistort_grid(cam: Camera, step: int = 4, iters: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Normalised undistorted coordinates (x, y) of every pixel, each (H, W) float32.

    Fixed-point inversion of the distortion model on a coarse grid (every ``step`` px),
    then bilinear up-sampling (the distortion field is smooth).
    """
    W, H = cam.width, cam.height
    gu = np.arange(0, W + step, step, dtype=np.float64)
    gv = np.arange(0, H + step, step, dtype=np.float64)
    u, v = np.meshgrid(gu, gv)  # (h, w)
    K = cam.K
    yd = (v - K[1, 2]) / K[1, 1]
    xd = (u - K[0, 2] - K[0, 1] * yd) / K[0, 0]
    k1, k2, p1, p2, k3 = (list(cam.dist) + [0.0] * 5)[:5]
    x, y = xd.copy(), yd.copy()
    for _ in range(iters):
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x, y = (xd - dx) / radial, (yd - dy) / radial
    # up-sample: pixel (u, v) sits at grid coordinate (u / step, v / step)
    mx = (np.arange(W, dtype=np.float32) / step)[None, :].repeat(H, 0)
    my = (np.arange(H, dtype=np.float32) / step)[:, None].repeat(W, 1)
    xs = cv2_remap(x.astype(np.float32), mx, my)
    ys = cv2_remap(y.astype(np.float32), mx, my)
    return xs, ys


def cv2_remap(img: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
