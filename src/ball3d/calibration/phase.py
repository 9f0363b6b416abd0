"""Phase ``calibrate``: calibrate every camera of a scene folder and report the errors.

Intrinsics and distortion come from the camera's board video. Extrinsics (``calibrate.extrinsics``):

* ``lines`` (default): the painted pitch lines of the camera's own scene video are aligned with
  the pitch model (``ball3d.linereg``), starting from PnP on ``landmarks_px.json`` clicks when the
  scene folder has them for this camera, else from the nominal rig pose (``scenes.cameras``
  without the per-scene jitter: where the user says the camera stands and looks). The true
  camera is never read.
* ``landmarks_truth``: PnP on landmark pixels: ``landmarks_px.json`` clicks when present, else on a
  rendered scene the ground-truth projection plus Gaussian noise of ``landmark_noise_px``
  (simulated clicks: reads the truth; kept for comparison only).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ball3d.board import Board
from ball3d.camera import Camera, look_at
from ball3d.pitch import landmarks
from ball3d.rig import nominal_poses
from ball3d.videoio import check_consistent, probe_video
from pipeutil.io import PipelineError, atomic_path, read_json, write_json

from .calibrate import (
    calibrate_intrinsics,
    camera_errors,
    solve_extrinsics,
    synthetic_landmark_pixels,
)
from .linereg import align_camera, background_plate
from .plots import calibration_errors

log = logging.getLogger(__name__)


def load_truth(scene_dir: Path) -> dict | None:
    p = scene_dir / "truth.json"
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{p}: not valid JSON ({exc})") from exc


def _clicked(scene_dir: Path, name: str):
    """(names, xyz (N, 3), uv (N, 2)) of this camera's landmark clicks in landmarks_px.json, or None."""
    lm = landmarks()
    table = dict(zip(lm.names, lm.xyz))
    clicked = scene_dir / "landmarks_px.json"
    if not clicked.exists():
        return None
    try:
        d = json.loads(clicked.read_text()).get(name)
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{clicked}: not valid JSON ({exc})") from exc
    if not d:
        return None
    unknown = sorted(set(d) - set(table))
    if unknown:
        raise PipelineError(f"{clicked}: camera {name!r}: unknown landmark names {unknown}; known: {lm.names}")
    names = sorted(d)
    return names, np.array([table[n] for n in names]).reshape(-1, 3), np.array([d[n] for n in names]).reshape(-1, 2)


def _landmark_obs(scene_dir: Path, name: str, gt: Camera | None, cfg: dict, rng):
    """Landmark pixels for PnP: clicks when present, else (rendered scene) truth projection + noise."""
    clicks = _clicked(scene_dir, name)
    if clicks is not None:
        return (*clicks, "clicked")
    if gt is None:
        raise PipelineError(f"{scene_dir}: no landmarks_px.json entry and no ground truth for camera {name!r}: "
                            "cannot solve its extrinsics with calibrate.extrinsics=landmarks_truth")
    lm = landmarks()
    names, xyz, uv = synthetic_landmark_pixels(gt, lm.names, lm.xyz, cfg["landmark_noise_px"], rng)
    return names, xyz, uv, f"truth projection + N(0, {cfg['landmark_noise_px']} px)"


def _initial_pose(scene_dir: Path, name: str, intr, cfg: dict, rig_cfg: dict | None):
    """Starting pose of the line alignment: PnP on clicks when present, else the nominal rig pose."""
    clicks = _clicked(scene_dir, name)
    if clicks is not None:
        R, t, rms = solve_extrinsics(intr.K, intr.dist, clicks[1], clicks[2], name, int(cfg["min_landmarks"]))
        return R, t, f"PnP on {len(clicks[0])} clicked landmarks (rms {rms:.2f} px)"
    nominal = {n: (eye, target) for n, eye, target in nominal_poses(rig_cfg)} if rig_cfg else {}
    if name not in nominal:
        raise PipelineError(f"camera {name!r}: no initial pose for the pitch-line alignment: it has no entry in "
                            f"{scene_dir}/landmarks_px.json and no nominal pose in params scenes.cameras")
    R, t = look_at(*nominal[name])
    return R, t, "nominal rig pose (params scenes.cameras, no per-scene jitter)"


def _short(err: dict) -> dict:
    return {k: err[k] for k in ("centre_cm", "rotation_deg", "reprojection_vs_truth_px")}


def _extrinsics(scene_dir: Path, name: str, intr, video, cfg: dict, gt: Camera | None, rig_cfg, rng):
    """(R, t, report entries, {label: comparison camera}) for calibrate.extrinsics."""
    method = cfg["extrinsics"]
    if method == "landmarks_truth":
        names, xyz, uv, how = _landmark_obs(scene_dir, name, gt, cfg, rng)
        R, t, rms = solve_extrinsics(intr.K, intr.dist, xyz, uv, name, int(cfg["min_landmarks"]))
        return R, t, {"extrinsics": method, "pnp_rms_px": round(rms, 4), "landmarks": len(names),
                      "landmark_source": how}, {}
    R0, t0, how = _initial_pose(scene_dir, name, intr, cfg, rig_cfg)
    plate = background_plate(str(scene_dir / f"{name}.avi"), int(cfg["lines"]["median_frames"]))
    fit = align_camera(plate, intr.K, intr.dist, R0, t0, cfg["lines"], name)
    mk = lambda R_, t_: Camera(name=name, K=intr.K, dist=intr.dist, R=R_, t=t_, width=video.width,
                               height=video.height)
    compare = {"initial": mk(R0, t0), "lines_dt_only": mk(fit.R_dt, fit.t_dt)}
    if gt is not None:
        lm = landmarks()
        _, xyz, uv = synthetic_landmark_pixels(gt, lm.names, lm.xyz, cfg["landmark_noise_px"], rng)
        Rl, tl, _ = solve_extrinsics(intr.K, intr.dist, xyz, uv, name, int(cfg["min_landmarks"]))
        compare["landmarks_truth"] = mk(Rl, tl)
    return fit.R, fit.t, {"extrinsics": method, "initial_pose": how, **fit.summary()}, compare


def calibrate_camera(scene_dir: Path, name: str, board: Board, cfg: dict, truth: dict | None, rng,
                     rig_cfg: dict | None = None) -> tuple[Camera, dict]:
    """One camera: intrinsics from calib_<name>.avi, extrinsics per calibrate.extrinsics."""
    video = probe_video(scene_dir / f"{name}.avi")
    intr = calibrate_intrinsics(str(scene_dir / f"calib_{name}.avi"), board, cfg, name)
    if (intr.width, intr.height) != (video.width, video.height):
        raise PipelineError(f"camera {name!r}: calibration video is {intr.width}x{intr.height} but the scene video "
                            f"is {video.width}x{video.height}")
    gts = {c["name"]: Camera.from_dict(c, f"{scene_dir}/truth.json") for c in (truth or {}).get("cameras", [])}
    gt = gts.get(name)
    R, t, ext, compare = _extrinsics(scene_dir, name, intr, video, cfg, gt, rig_cfg, rng)
    entry = {"camera": name, **intr.summary(), **ext}
    cam = Camera(name=name, K=intr.K, dist=intr.dist, R=R, t=t, width=video.width, height=video.height,
                 fps=video.fps, meta={"source": f"calibrated from {scene_dir.name}/calib_{name}.avi", **entry})
    if gt is not None:
        entry["errors_vs_truth"] = camera_errors(cam, gt)
        entry["compare_vs_truth"] = {k: _short(camera_errors(c, gt)) for k, c in compare.items()}
    return cam, entry


def calibrate_scene(scene_dir: str | Path, cam_names: list[str], cfg: dict, out_dir: str | Path,
                    rig_cfg: dict | None = None) -> dict:
    """Write <out_dir>/<cam>.json per camera and <out_dir>/report.json (the folder appears atomically).

    ``rig_cfg`` (params ``scenes.cameras``) gives the nominal camera poses that start the line alignment.
    """
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
        cam, entry = calibrate_camera(scene_dir, name, board, cfg, truth, rng, rig_cfg)
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


def _stats(vals: list[float]) -> dict:
    return {"mean": float(np.mean(vals)), "median": float(np.median(vals)), "max": float(np.max(vals))}


def summarise(reports: list[dict]) -> dict:
    """Mean, median and max of every error over all calibrated cameras of all scenes.

    Also the line-alignment residual (extrinsics = lines) and, on rendered scenes, the pose errors
    of the comparison solutions (initial guess, lines before the sub-pixel step, landmarks_truth).
    """
    rows = [(r["scene"], e) for r in reports for e in r["cameras"]]
    out = {"n_cameras": len(rows), "extrinsics": sorted({e.get("extrinsics", "landmarks_truth") for _, e in rows}),
           "rms_px": _stats([e["rms_px"] for _, e in rows])}
    for k in ("line_residual_px", "line_points"):
        vals = [e[k] for _, e in rows if k in e]
        if vals:
            out[k] = _stats(vals)
    keys = sorted({k for _, e in rows for k in e.get("errors_vs_truth", {})})
    for k in keys:
        out[k] = _stats([e["errors_vs_truth"][k] for _, e in rows if "errors_vs_truth" in e])
    labels = sorted({lab for _, e in rows for lab in e.get("compare_vs_truth", {})})
    out["compare_vs_truth"] = {lab: {k: _stats([e["compare_vs_truth"][lab][k] for _, e in rows
                                                if lab in e.get("compare_vs_truth", {})])
                                     for k in ("centre_cm", "rotation_deg", "reprojection_vs_truth_px")}
                               for lab in labels}
    out["per_camera"] = [{"scene": s, "camera": e["camera"], "rms_px": e["rms_px"], **e.get("errors_vs_truth", {}),
                          **({"line_residual_px": e["line_residual_px"]} if "line_residual_px" in e else {}),
                          **({"compare_vs_truth": e["compare_vs_truth"]} if "compare_vs_truth" in e else {})}
                         for s, e in rows]
    return out


def run_calibrate_scene(truth_path: str, cam_names: list[str], cfg: dict, out_dir: str, rig_cfg: dict) -> dict:
    """Rule calibrate_scene: every camera of the scene of ``truth_path`` -> <out_dir>/<cam>.json + report.json."""
    return calibrate_scene(Path(truth_path).parent, cam_names, cfg, out_dir, rig_cfg)


def run_calibrate_summary(calib_dirs: list[str], summary_json: str, plot_png: str) -> dict:
    """Rule calibrate_summary: the errors of every calibrated camera against truth, as JSON and a plot."""
    summary = summarise([read_json(Path(d) / "report.json", "calibration report") for d in calib_dirs])
    write_json(summary_json, summary)
    calibration_errors(summary, plot_png)
    return summary
