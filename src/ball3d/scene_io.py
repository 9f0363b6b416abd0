"""A scene's files as the phases after ``scenes`` read them: calibrated cameras, detections (contracts in
``ball3d.records``); each reader checks the file against the scene's truth.json and names the file on error."""
from __future__ import annotations

from pathlib import Path

from pipeutil.io import PipelineError, read_json

from .camera import Camera


def load_cameras(cameras_dir: str | Path, truth: dict, source: str) -> list[Camera]:
    """Calibrated cameras (one <cam>.json per camera of truth.json) or, if source == 'truth', the true ones."""
    names = list(truth["per_camera"])
    if source == "truth":
        if "cameras" not in truth:  # real footage (ball3d.real_scenes): no true cameras
            raise PipelineError(f"scene {truth['scene_id']}: no ground-truth cameras; set bundle.cameras: calibrated")
        return [Camera.from_dict(d, source="truth.json") for d in truth["cameras"]]
    if source != "calibrated":
        raise PipelineError(f"params.yaml: bundle.cameras must be 'calibrated' or 'truth', got {source!r}")
    cams = [Camera.load(Path(cameras_dir) / f"{n}.json") for n in names]
    known = truth.get("cameras") or [{"name": n, **pc} for n, pc in truth["per_camera"].items()]  # real: sizes there
    videos = {d["name"]: d for d in known}
    for cam, name in zip(cams, names):
        d = videos.get(name, {"name": name, "width": "?", "height": "?"})
        if cam.name != name or (cam.width, cam.height) != (d["width"], d["height"]):
            raise PipelineError(f"{cameras_dir}/{cam.name}.json: calibration for {cam.name} {cam.width}x{cam.height} "
                                f"does not match the video of camera {d['name']} {d['width']}x{d['height']}")
    return cams


def load_detections(path: str | Path, truth: dict) -> dict:
    """Detections file -> {cam: [[[u, v, score], ...] per frame]}, checked against the scene."""
    det = read_json(path, "detections")
    if det.get("scene_id") != truth["scene_id"] or not isinstance(det.get("per_camera"), dict):
        raise PipelineError(f"{path}: detections of scene {det.get('scene_id')!r} (need {truth['scene_id']!r} "
                            "with a per_camera mapping)")
    per = det["per_camera"]
    bad = {c: len(v) for c, v in per.items() if len(v) != int(truth["n_frames"])}
    if bad:
        raise PipelineError(f"{path}: frame counts {bad} differ from the scene's {truth['n_frames']} frames")
    return per
