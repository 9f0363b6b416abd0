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
   "landmarks": {"names": [...], "xyz": [[x, y, z], ...]},   # pitch landmarks for PnP
   "calib_board": {"cols": int, "rows": int, "square_m": float},  # chessboard of the calib_*.avi videos
   "kick_times_s": [float, ...]}                                   # provenance
  A truth.json without "ground_truth" (or with true) is a rendered scene as above.

Real footage (results/scenes/real/<scene_id>/, params scenes.real, written by ball3d.real_scenes):
  the same videos (<cam_name>.avi, calib_<cam_name>.avi: MJPG re-encodes of the user's files,
  match videos cut to the scene's frame range), landmarks_px.json = {cam_name: {landmark_name:
  [u, v]}} (clicked, distorted pixels of the match video, names of ball3d.pitch.landmarks()) for
  the extrinsics, and a truth.json holding only what is known:
  {"scene_id": str, "split": "real", "ground_truth": false, "fps": float, "n_frames": int,
   "source_frames": [start, stop],                     # frames of the user's videos kept
   "per_camera": {cam_name: {"video": "<cam_name>.avi", "calib_video": "calib_<cam_name>.avi",
        "width": int, "height": int, "calib_frames": int,
        "source": "file:...", "calib_source": "file:..."}},   # provenance
   "landmarks_px": "landmarks_px.json", "landmarks_source": "file:..."}
  No "cameras", "ball_xyz", "uv", "seed": consumers that need ground truth skip such a scene
  (detect metrics, evaluate_vision) or refuse it (bundle.cameras: truth).

Calibrated cameras (results/calibrate/<split>/<scene_id>/, one folder written atomically):
  <cam_name>.json  Camera.to_dict() (K, dist, R, t estimated; meta: rms_px, views, pnp_rms_px, ...)
  report.json      {"scene": str, "cameras": [{"camera", "rms_px", "views", "rejected", "pnp_rms_px",
                    "landmarks", "landmark_source", "errors_vs_truth": {...}}]}
  results/calibrate/summary.json: mean / median / max of every error over all cameras + per_camera rows.

Pre-processed videos (results/preprocess/<split>/<scene_id>/, one folder written atomically):
  <cam_name>.npz   frames (T, h, w, 3) uint8 BGR: undistorted, downscaled by `scale`, tone-mapped;
                   fg (T, h, w) uint8 0/1 foreground mask of the running background model;
                   K_out (3, 3): intrinsics of that ideal pinhole image (no distortion; R, t as the
                   calibrated camera); scale (float); camera (str).
                   A pixel (u', v') there is the undistorted full-resolution pixel
                   ((u' + 0.5) * scale - 0.5, (v' + 0.5) * scale - 0.5).
  summary.json     per camera: frames, out_size, backend, mean_luma, gain, gamma (timings: rule log only).
  ball3d.preprocess.stack_frames(frames, t, k) stacks frames t-k+1..t as channels (h, w, k*3).

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
