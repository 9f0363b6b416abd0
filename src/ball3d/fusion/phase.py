"""Phase ``bundle``: the function rule ``bundle_scene`` calls (solver: ball3d.fusion.solve)."""
from __future__ import annotations

from ball3d.scene_io import load_cameras, load_detections
from pipeutil.io import read_json, write_json

from .solve import solve_scene


def run_bundle(truth_path: str, cameras_dir: str | None, detections_path: str, params: dict,
               timing: dict | None = None) -> dict:
    """Read truth.json (scene layout, fps), cameras and detections; solve; return the payload
    (``timing``: see solve_scene)."""
    truth = read_json(truth_path, "scene truth")
    cameras = load_cameras(cameras_dir, truth, params.get("cameras", "calibrated"))
    candidates = load_detections(detections_path, truth)
    payload = solve_scene(cameras, candidates, float(truth["fps"]), params, timing)
    payload.update(scene_id=truth["scene_id"], detections=str(detections_path),
                   camera_source=params.get("cameras", "calibrated"), params=params)
    return payload


def run_bundle_scene(truth_path: str, cameras_dir: str | None, detections_path: str, params: dict,
                     tracks_path: str, timing_path: str) -> tuple[dict, dict]:
    """Rule bundle_scene: every method's 3D track of one scene -> ``tracks_path``; the wall-clock figures
    -> ``timing_path`` (a declared timing file, pipeutil.io.TIMING_FILES). Returns (payload, timing)."""
    timing: dict = {}
    payload = run_bundle(truth_path, cameras_dir, detections_path, params, timing)
    write_json(tracks_path, payload)
    write_json(timing_path, timing)
    return payload, timing
