"""Per-camera clock skew: estimate it from the reprojection residuals of a solved track, correct for it.

A camera whose clock runs delta seconds late sees the ball at X(t + delta) ~ X(t) + delta v(t).
Linearising the projection, its residuals are r ~ J_pi v delta: one scalar unknown per camera,
solved by least squares over all its detections. Camera 0's clock defines time (gauge: a common
skew of every camera is a time shift of the whole trajectory, invisible to the cameras).
Corrected detections (uv - J_pi v delta) are fed back to the graph.
"""
from __future__ import annotations

import numpy as np


def _proj_jacobian(P: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (2,) and d pixel / d X (2, 3) of point X (3,) under P (3, 4)."""
    x = P[:, :3] @ X + P[:, 3]  # (3,)
    J = (P[:2, :3] * x[2] - np.outer(x[:2], P[2, :3])) / x[2] ** 2  # (2, 3)
    return x[:2] / x[2], J


def velocities(xyz: dict[int, np.ndarray], fps: float) -> dict[int, np.ndarray]:
    """Central (or one-sided at the ends of a run) differences of a per-frame track, m/s."""
    out = {}
    for i, x in xyz.items():
        a, b = xyz.get(i - 1), xyz.get(i + 1)
        if a is not None and b is not None:
            out[i] = (b - a) * fps / 2
        elif a is not None or b is not None:
            out[i] = (x - a) * fps if a is not None else (b - x) * fps
    return out


def estimate_skews(P: np.ndarray, obs: dict, xyz: dict, fps: float, max_abs_s: float) -> np.ndarray:
    """(V,) skew per camera in seconds, camera 0 = 0; clipped to +-max_abs_s."""
    vel = velocities(xyz, fps)
    num, den = np.zeros(len(P)), np.zeros(len(P))
    for i, rows in obs.items():
        if i not in vel or i not in xyz:
            continue
        for j, uv in rows:
            uv_hat, J = _proj_jacobian(P[j], xyz[i])
            g = J @ vel[i]  # (2,) pixels per second of skew
            num[j] += g @ (np.asarray(uv) - uv_hat)
            den[j] += g @ g
    delta = np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)
    return np.clip(delta - delta[0], -max_abs_s, max_abs_s)


def correct(P: np.ndarray, obs: dict, xyz: dict, fps: float, delta: np.ndarray) -> dict:
    """Detections moved back to the common clock: uv - J_pi v delta_j."""
    vel = velocities(xyz, fps)
    out = {}
    for i, rows in obs.items():
        if i not in vel or i not in xyz:
            out[i] = rows
            continue
        out[i] = [(j, np.asarray(uv) - _proj_jacobian(P[j], xyz[i])[1] @ vel[i] * delta[j]) for j, uv in rows]
    return out
