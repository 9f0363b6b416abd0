"""Typed records that cross phase boundaries in the vision branch.

Scene truth (results/scenes/<split>/<scene_id>/truth.json), written by the scene generator:
  {"scene_id": str, "seed": int, "split": "train"|"val"|"test", "fps": float, "n_frames": int,
   "ball_radius_m": float,
   "cameras": [Camera.to_dict(), ...],                 # ground-truth cameras (ball3d.camera)
   "ball_xyz": [[x, y, z], ...],                       # ball centre per frame, metres, world frame
   "per_camera": {cam_name: {
        "video": "<cam_name>.avi",                     # relative to the scene folder
        "calib_video": "calib_<cam_name>.avi",
        "uv": [[u, v] | null, ...],                    # distorted pixel position of the ball centre per frame
        "visible_fraction": [float, ...],              # 0 = fully occluded / out of view, 1 = fully visible
        "blur_px": [float, ...],                       # motion-blur streak length in pixels
        "low_light": bool}},                           # the camera's video is rendered dark + noisy
   "landmarks": {"names": [...], "xyz": [[x, y, z], ...]}}   # pitch landmarks for PnP

Detections (results/detect/<split>/<scene_id>/<detector>.json):
  {"scene_id": str, "detector": str, "per_camera": {cam_name: [[[u, v, score], ...top-K...] per frame]}}
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Detection2D:
    frame: int
    camera: str
    u: float  # pixels, distorted image coordinates
    v: float
    score: float  # detector confidence in [0, 1]
    source: str = ""  # detector name (provenance)


@dataclass
class Track3D:
    frames: list[int]
    xyz: list[list[float]]  # (N, 3) metres
    cov: list[list[list[float]]] | None = None  # (N, 3, 3) m^2 from GTSAM marginals
    support: list[list[str]] = field(default_factory=list)  # cameras that supported each point
    method: str = ""
    meta: dict = field(default_factory=dict)
