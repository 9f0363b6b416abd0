"""Synthetic ground truth for the geometry half: cameras around a pitch, a ballistic ball, detections.

Everything here is exact and seeded, so tests, sweeps and benchmarks can state what the solver
must recover. Detections follow the contract of results/detect (distorted pixels, top-K
candidates with scores per frame and camera), with Gaussian pixel noise, occlusions, injected
false detections and an optional per-camera time skew.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ball3d.camera import Camera, look_at
from ball3d.constants import BALL_RADIUS_M, GRAVITY_MPS2

GRAVITY = np.array([0.0, 0.0, -GRAVITY_MPS2])  # m/s^2, world z up
PITCH_HALF = (52.5, 34.0)  # m, half length / half width of a 105 x 68 pitch


@dataclass
class SynthProblem:
    """A multi-camera observation problem with its exact answer."""

    cameras: list[Camera]
    xyz: np.ndarray  # (T, 3) true ball centre per frame, metres
    fps: float
    candidates: dict[str, list[np.ndarray]]  # cam -> per frame (k, 3) [u, v, score], distorted px
    true_uv: dict[str, np.ndarray]  # cam -> (T, 2) noiseless distorted px, NaN when not detected
    meta: dict = field(default_factory=dict)


def ring_cameras(n: int, width: int = 1920, height: int = 1080, focal_px: float = 1600.0,
                 distortion: tuple = (-0.05, 0.01, 0.0, 0.0, 0.0), target=(0.0, 0.0, 1.0),
                 radius_m: float = 55.0, height_m: float = 15.0, fps: float = 25.0) -> list[Camera]:
    """``n`` cameras on an ellipse around the pitch, all looking at ``target``."""
    cams = []
    for j in range(n):
        a = 2 * np.pi * j / n + 0.3
        eye = np.array([radius_m * 1.25 * np.cos(a), radius_m * 0.9 * np.sin(a), height_m + 3.0 * (j % 3)])
        R, t = look_at(eye, np.asarray(target, dtype=float))
        K = np.array([[focal_px, 0, width / 2], [0, focal_px, height / 2], [0, 0, 1.0]])
        cams.append(Camera(f"cam{j}", K, np.array(distortion, float), R, t, width, height, fps,
                           meta={"source": "geom_synth.ring_cameras"}))
    return cams


def ballistic_trajectory(n_frames: int, fps: float = 25.0, p0=(-20.0, -10.0, BALL_RADIUS_M),
                         v0=(14.0, 6.0, 9.0), radius: float = BALL_RADIUS_M, restitution: float = 0.6,
                         drag_per_m: float = 0.0, substeps: int = 40, kick_frame: int | None = None,
                         kick_v=(-10.0, 4.0, 6.0)) -> tuple[np.ndarray, callable]:
    """Ball centre per frame (T, 3) with bounces on the ground, and a position-at-time function.

    ``drag_per_m`` is the quadratic drag constant k in a = g - k |v| v (1/m); a kick at
    ``kick_frame`` replaces the velocity by ``kick_v`` (m/s).
    """
    dt = 1.0 / fps / substeps
    p, v = np.array(p0, float), np.array(v0, float)
    times, pts = [0.0], [p.copy()]
    for s in range(1, n_frames * substeps + 1):
        if kick_frame is not None and s == kick_frame * substeps:
            v = np.array(kick_v, float)
        rolling = p[2] <= radius + 1e-6 and abs(v[2]) < 0.5
        a = (np.zeros(3) if rolling else GRAVITY) - drag_per_m * np.linalg.norm(v) * v
        if rolling:
            v[2], p[2] = 0.0, radius
            a -= 0.6 * v / max(np.linalg.norm(v), 1e-6)  # rolling resistance, m/s^2
        v = v + a * dt
        p = p + v * dt
        if p[2] < radius and v[2] < 0:  # bounce: reflect, lose energy and horizontal speed
            p[2] = 2 * radius - p[2]
            v = np.array([0.85 * v[0], 0.85 * v[1], -restitution * v[2]])
            if abs(v[2]) < 0.5:
                p[2], v[2] = radius, 0.0
        times.append(s * dt)
        pts.append(p.copy())
    times, pts = np.array(times), np.array(pts)  # (S,), (S, 3)

    def at(t):
        t = np.atleast_1d(np.asarray(t, float))
        return np.stack([np.interp(t, times, pts[:, k]) for k in range(3)], axis=1)  # (N, 3)

    return pts[::substeps][:n_frames], at


def synth_detections(cameras: list[Camera], position_at, n_frames: int, fps: float, rng: np.random.Generator,
                     noise_px: float = 1.0, false_rate: float = 0.0, occlusion_prob: float = 0.0,
                     skew_s: dict | None = None, top_k: int = 5) -> tuple[dict, dict]:
    """Top-K candidates per frame and camera: the (noisy) true ball plus Poisson false detections.

    A camera whose clock runs ``skew_s[cam]`` seconds late sees the ball where it is at t + skew.
    """
    candidates, true_uv = {}, {}
    times = np.arange(n_frames) / fps
    for cam in cameras:
        skew = (skew_s or {}).get(cam.name, 0.0)
        uv, depth = cam.project(position_at(times + skew))  # (T, 2), (T,)
        inside = (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
        seen = inside & (rng.random(n_frames) >= occlusion_prob)
        true_uv[cam.name] = np.where(seen[:, None], uv, np.nan)
        per_frame = []
        for i in range(n_frames):
            rows = []
            if seen[i]:
                rows.append([*(uv[i] + rng.normal(0, noise_px, 2)), rng.uniform(0.6, 1.0)])
            for _ in range(rng.poisson(false_rate)):
                rows.append([rng.uniform(0, cam.width), rng.uniform(0, cam.height), rng.uniform(0.2, 0.95)])
            arr = np.array(rows, float).reshape(-1, 3)  # (k, 3)
            per_frame.append(arr[np.argsort(-arr[:, 2])][:top_k])
        candidates[cam.name] = per_frame
    return candidates, true_uv


def make_problem(n_cameras: int = 3, n_frames: int = 60, fps: float = 25.0, seed: int = 0,
                 noise_px: float = 1.0, false_rate: float = 0.0, occlusion_prob: float = 0.0,
                 skew_max_s: float = 0.0, top_k: int = 5, kick_frame: int | None = None,
                 drag_per_m: float = 0.013, focal_px: float = 1600.0, radius_m: float = 55.0) -> SynthProblem:
    """One seeded problem: ring cameras, a bouncing ball, noisy candidates."""
    rng = np.random.default_rng(seed)
    cameras = ring_cameras(n_cameras, fps=fps, focal_px=focal_px, radius_m=radius_m)
    xyz, at = ballistic_trajectory(n_frames, fps, kick_frame=kick_frame, drag_per_m=drag_per_m)
    skew = {c.name: float(rng.uniform(-skew_max_s, skew_max_s)) for c in cameras} if skew_max_s else {}
    cands, true_uv = synth_detections(cameras, at, n_frames, fps, rng, noise_px, false_rate,
                                      occlusion_prob, skew, top_k)
    return SynthProblem(cameras, xyz, fps, cands, true_uv,
                        meta={"seed": seed, "noise_px": noise_px, "false_rate": false_rate,
                              "occlusion_prob": occlusion_prob, "skew_s": skew})


def candidates_to_contract(candidates: dict[str, list[np.ndarray]]) -> dict:
    """Convert to the detections-file layout {cam: [[[u, v, score], ...] per frame]}."""
    return {cam: [arr.tolist() for arr in frames] for cam, frames in candidates.items()}


def to_truth(p: SynthProblem, scene_id: str = "synthetic_0") -> dict:
    """A truth.json-shaped dict of a synthetic problem (no videos), for tests and benchmarks."""
    n = len(p.xyz)
    per_camera = {c.name: {"video": f"{c.name}.avi", "calib_video": f"calib_{c.name}.avi",
                           "uv": [None if not np.isfinite(uv[0]) else uv.tolist() for uv in p.true_uv[c.name]],
                           "visible_fraction": [float(np.isfinite(uv[0])) for uv in p.true_uv[c.name]],
                           "blur_px": [0.0] * n, "low_light": False} for c in p.cameras}
    return {"scene_id": scene_id, "seed": int(p.meta.get("seed", 0)), "split": "test", "fps": p.fps, "n_frames": n,
            "ball_radius_m": BALL_RADIUS_M, "cameras": [c.to_dict() for c in p.cameras], "ball_xyz": p.xyz.tolist(),
            "per_camera": per_camera, "landmarks": {"names": [], "xyz": []}}
