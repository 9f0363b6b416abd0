"""Phase ``calibrate``: calibrate every camera of a scene folder and report the errors.

Landmark pixels for PnP come from ``landmarks_px.json`` in the scene folder when it exists
(clicked or detected on real footage: ``{cam_name: {landmark_name: [u, v]}}``); otherwise, on a
rendered scene, from the ground-truth projection of the landmarks plus Gaussian noise of
``landmark_noise_px`` (no landmark detector is run; see docs/vision.md).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from pipeutil.io import PipelineError, atomic_path, write_json

from .board import Board
from .calibrate import calibrate_intrinsics, camera_errors, solve_extrinsics, synthetic_landmark_pixels
from .camera import Camera
from .pitch import landmarks
from .videoio import check_consistent, probe_video

log = logging.getLogger(__name__)


def load_truth(scene_dir: Path) -> dict | None:
    p = scene_dir / "truth.json"
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{p}: not valid JSON ({exc})") from exc


def _landmark_obs(scene_dir: Path, name: str, truth: dict | None, gt: Camera | None, cfg: dict, rng):
    lm = landmarks()
    table = dict(zip(lm.names, lm.xyz))
    clicked = scene_dir / "landmarks_px.json"
    if clicked.exists():
        d = json.loads(clicked.read_text()).get(name, {})
        unknown = sorted(set(d) - set(table))
        if unknown:
            raise PipelineError(f"{clicked}: camera {name!r}: unknown landmark names {unknown}; known: {lm.names}")
        names = sorted(d)
        return names, np.array([table[n] for n in names]).reshape(-1, 3), np.array([d[n] for n in names]).reshape(-1, 2), "clicked"
    if gt is None:
        raise PipelineError(f"{scene_dir}: no landmarks_px.json and no ground truth for camera {name!r}: "
                            "cannot solve its extrinsics")
    names, xyz, uv = synthetic_landmark_pixels(gt, lm.names, lm.xyz, cfg["landmark_noise_px"], rng)
    return names, xyz, uv, f"truth projection + N(0, {cfg['landmark_noise_px']} px)"


def calibrate_camera(scene_dir: Path, name: str, board: Board, cfg: dict, truth: dict | None, rng) -> tuple[Camera, dict]:
    """One camera: intrinsics from calib_<name>.avi, extrinsics from pitch landmarks."""
    video = probe_video(scene_dir / f"{name}.avi")
    intr = calibrate_intrinsics(str(scene_dir / f"calib_{name}.avi"), board, cfg, name)
    if (intr.width, intr.height) != (video.width, video.height):
        raise PipelineError(f"camera {name!r}: calibration video is {intr.width}x{intr.height} but the scene video "
                            f"is {video.width}x{video.height}")
    gts = {c["name"]: Camera.from_dict(c, f"{scene_dir}/truth.json") for c in (truth or {}).get("cameras", [])}
    gt = gts.get(name)
    names, xyz, uv, how = _landmark_obs(scene_dir, name, truth, gt, cfg, rng)
    R, t, pnp_rms = solve_extrinsics(intr.K, intr.dist, xyz, uv, name, int(cfg["min_landmarks"]))
    entry = {"camera": name, **intr.summary(), "pnp_rms_px": round(pnp_rms, 4), "landmarks": len(names),
             "landmark_source": how}
    cam = Camera(name=name, K=intr.K, dist=intr.dist, R=R, t=t, width=video.width, height=video.height,
                 fps=video.fps, meta={"source": f"calibrated from {scene_dir.name}/calib_{name}.avi", **entry})
    if gt is not None:
        entry["errors_vs_truth"] = camera_errors(cam, gt)
    return cam, entry


def calibrate_scene(scene_dir: str | Path, cam_names: list[str], cfg: dict, out_dir: str | Path) -> dict:
    """Write <out_dir>/<cam>.json per camera and <out_dir>/report.json (the folder appears atomically)."""
    scene_dir = Path(scene_dir)
    truth = load_truth(scene_dir)
    check_consistent([probe_video(scene_dir / f"{n}.avi") for n in cam_names], str(scene_dir))
    b = cfg["board"]
    board = Board(int(b["cols"]), int(b["rows"]), float(b["square_m"]))
    if truth and truth.get("calib_board") and truth["calib_board"] != {"cols": board.cols, "rows": board.rows,
                                                                         "square_m": board.square_m}:
        raise PipelineError(f"params.yaml: calibrate.board {b} differs from the board rendered in "
                            f"{scene_dir}/truth.json: {truth['calib_board']}")
    rng = np.random.default_rng(int(cfg["landmark_seed"]) + (truth or {}).get("seed", 0))
    cams, entries = [], []
    for name in cam_names:
        cam, entry = calibrate_camera(scene_dir, name, board, cfg, truth, rng)
        log.info("camera %s: rms %.3f px, %s", name, entry["rms_px"], entry.get("errors_vs_truth", {}))
        cams.append(cam)
        entries.append(entry)
    report = {"scene": scene_dir.name, "cameras": entries}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for cam in cams:
            cam.save(tmp / f"{cam.name}.json")
        write_json(tmp / "report.json", report)
    return report


def summarise(reports: list[dict]) -> dict:
    """Mean and max of every error over all calibrated cameras of all scenes."""
    rows = [(r["scene"], e) for r in reports for e in r["cameras"]]
    out = {"n_cameras": len(rows), "rms_px": {"mean": float(np.mean([e["rms_px"] for _, e in rows])),
                                              "max": float(np.max([e["rms_px"] for _, e in rows]))}}
    keys = sorted({k for _, e in rows for k in e.get("errors_vs_truth", {})})
    for k in keys:
        vals = [e["errors_vs_truth"][k] for _, e in rows if "errors_vs_truth" in e]
        out[k] = {"mean": float(np.mean(vals)), "median": float(np.median(vals)), "max": float(np.max(vals))}
    out["per_camera"] = [{"scene": s, "camera": e["camera"], "rms_px": e["rms_px"], **e.get("errors_vs_truth", {})}
                         for s, e in rows]
    return out
