"""A synthetic look-alike for the association: a second object seen consistently by a few cameras.

The failure it reproduces (default scene test_3001): the detector finds the ball in only some
cameras, and a real 3D object (two players' heads, a line crossing) is detected in two cameras with
a higher score and less noise than the ball, so per-frame MSAC prefers it in many frames.
"""
from __future__ import annotations

import numpy as np

from .synth import SynthProblem, make_problem


def walking_head(n_frames: int, start=(8.0, 15.0, 1.7), velocity=(1.0, 0.0, 0.0), fps: float = 25.0) -> np.ndarray:
    """(T, 3) a head at 1.7 m walking at ``velocity`` m/s."""
    return np.asarray(start, float) + np.arange(n_frames)[:, None] / fps * np.asarray(velocity, float)


def add_decoy(p: SynthProblem, decoy: np.ndarray, decoy_cams: tuple, ball_cams: tuple, rng: np.random.Generator,
              drop_prob: float = 0.5, single_frames: tuple = (), score: float = 0.99, noise_px: float = 0.3) -> None:
    """In place: the ball is detected only by ``ball_cams`` (one of them drops out with ``drop_prob`` per frame,
    and only the first one sees it in ``single_frames``); ``decoy`` (T, 3) is detected by ``decoy_cams`` every frame."""
    for t in range(len(p.xyz)):
        drop = ball_cams[rng.integers(0, len(ball_cams))] if rng.random() < drop_prob else None
        for j, cam in enumerate(p.cameras):
            rows, true = p.candidates[cam.name][t], p.true_uv[cam.name][t]
            hidden = j not in ball_cams or j == drop or (t in single_frames and j != ball_cams[0])
            if np.isfinite(true[0]) and hidden:
                rows = rows[np.linalg.norm(rows[:, :2] - true, axis=1) > 5]  # the ball is not detected here
            if j in decoy_cams:
                uv = cam.project(decoy[t:t + 1])[0][0] + rng.normal(0, noise_px, 2)
                rows = np.vstack([[*uv, score], rows])
            p.candidates[cam.name][t] = rows


def decoy_problem(seed: int = 0, n_frames: int = 80,
                  single_frames: tuple = (30, 31, 32)) -> tuple[SynthProblem, np.ndarray]:
    """6 cameras at 1080p; the ball is detected by cam0..cam2 (2 or 3 of them per frame), a walking head by
    cam3 and cam4 in every frame (score 0.99, 0.3 px noise). Returns the problem and the decoy path (T, 3)."""
    p = make_problem(n_cameras=6, n_frames=n_frames, noise_px=1.0, false_rate=1.0, seed=seed, focal_px=1400.0)
    decoy = walking_head(n_frames, fps=p.fps)
    add_decoy(p, decoy, (3, 4), (0, 1, 2), np.random.default_rng(seed + 100), single_frames=single_frames)
    p.meta.update(decoy="walking head seen by cam3, cam4", single_frames=list(single_frames))
    return p, decoy
