"""Phase ``evaluate_vision``: the functions its rules call (metrics over scenes, plots of one scene, synthetic sweeps)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ball3d.scene_io import load_cameras, load_detections
from pipeutil.io import PipelineError, atomic_path, write_json

from .metrics import (
    evaluate_all,
    mean_over_seeds,
    run_sweeps,
    scene_table,
    target_checks,
)
from .plots import plot_detections, plot_errors, plot_sweeps, plot_trajectory

log = logging.getLogger(__name__)


def _load(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path}: cannot read ({exc})") from exc


def finite_or_none(obj):
    """Replace NaN / inf by None recursively, so the JSON outputs stay strict JSON."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def run_metrics(bundle_paths: list[str], truth_paths: list[str], out_path: str, table_path: str | None = None,
                table_methods: tuple = ("graph_smoothed",)) -> dict:
    """Metrics of every method on every scene (pairs matched by position), written to ``out_path``; the
    per-scene tables of ``table_methods`` (markdown) to ``table_path``."""
    if len(bundle_paths) != len(truth_paths):
        raise PipelineError(f"evaluate_vision: {len(bundle_paths)} bundle files but {len(truth_paths)} truth files")
    pairs = []
    for bp, tp in zip(bundle_paths, truth_paths):
        payload, truth = _load(bp), _load(tp)
        if truth.get("ground_truth", True) is False:  # real footage (split real): nothing to compare with
            log.info("%s: no ground truth, not evaluated", tp)
            continue
        if payload.get("scene_id") != truth.get("scene_id"):
            raise PipelineError(f"{bp}: scene {payload.get('scene_id')!r} does not match {tp} ({truth.get('scene_id')!r})")
        pairs.append((payload, truth))
    out = evaluate_all(pairs)
    out["files"] = list(bundle_paths)
    for m, v in out["overall"].items():
        h = out["headline"][m]
        log.info("%-20s RMSE %.4f m  p95 %.4f m  coverage %.3f  median scene RMSE %.4f m  worst %s %.4f m  "
                 "wrong fixes %d/%d", m, v["rmse_m"], v["p95_m"], v["mean_coverage"], h["median_scene_rmse_m"],
                 h["worst_scene"], h["worst_scene_rmse_m"], h["wrong_fixes"], h["returned_frames"])
    if table_path is not None:
        unknown = [m for m in table_methods if m not in out["overall"]]
        if unknown and out["scenes"]:
            raise PipelineError(f"params.yaml: evaluate_vision.table_methods {unknown} are not methods of the bundle "
                                f"output (known: {sorted(out['overall'])})")
        with atomic_path(table_path) as tmp:
            Path(tmp).write_text("\n".join(scene_table(out, m) for m in table_methods if m in out["overall"]))
    write_json(out_path, finite_or_none(out))
    return out


def busiest_frame(detections: dict) -> int:
    """The frame with the most candidates over all cameras (a frame worth looking at)."""
    counts = np.sum([[len(f) for f in frames] for frames in detections.values()], axis=0)
    return int(np.argmax(counts))


def run_plots(bundle_path: str, truth_path: str, detections_path: str, cameras_dir: str | None, camera_source: str,
              frame: int | None, out: dict[str, str]) -> str | None:
    """trajectory / errors / detections PNGs of one scene; returns the note drawn when no method found the ball."""
    payload, truth = _load(bundle_path), _load(truth_path)
    plot_trajectory(payload, truth, out["trajectory"])
    note = plot_errors(payload, truth, out["errors"])
    det = load_detections(detections_path, truth)
    cams = load_cameras(cameras_dir, truth, camera_source)
    f = busiest_frame(det) if frame is None else int(frame)
    if not 0 <= f < int(truth["n_frames"]):
        raise PipelineError(f"params.yaml: evaluate_vision.plot_frame {f} outside 0..{truth['n_frames'] - 1}")
    plot_detections(payload, truth, det, cams, Path(truth_path).parent, f, out["detections"])
    return note


def run_sweeps_phase(cfg: dict, solver_params: dict, out_json: str, out_png: str, out_timing: str | None = None) -> dict:
    """Sweeps over cameras / noise / false detections / time skew plus the DESIGN.md target checks
    (seconds and fusion ms per frame of every sweep case go to ``out_timing``)."""
    timing: list = []
    rows = run_sweeps(cfg["sweeps"], solver_params, timing)
    mean = mean_over_seeds(rows)
    targets = target_checks(cfg["targets"], solver_params)
    for k, v in targets.items():
        log.info("target %s: %.4f m (<= %.3f): %s", k, v["rmse_m"], v["target_m"], "PASS" if v["pass"] else "FAIL")
    out = {"targets": targets, "sweeps_mean": mean, "sweeps": rows, "config": cfg}
    keep = cfg["sweeps"].get("plot_methods") or [r["method"] for r in mean]
    plot_sweeps([r for r in mean if r["method"] in keep], out_png)
    write_json(out_json, finite_or_none(out))
    if out_timing is not None:
        write_json(out_timing, {"sweeps": timing})
    return out


def run_evaluate_vision_metrics(bundle_paths: list[str], truth_paths: list[str], out_path: str,
                                table_path: str | None = None, table_methods: tuple = ("graph_smoothed",)) -> dict:
    """Rule evaluate_vision_metrics: RMSE / median / p95 / coverage / wrong fixes of every 3D method on every
    scene against truth, headline figures, and the per-scene markdown table of ``table_methods``."""
    return run_metrics(bundle_paths, truth_paths, out_path, table_path, tuple(table_methods))


def run_evaluate_vision_plots(bundle_path: str, truth_path: str, detections_path: str, cameras_dir: str | None,
                              camera_source: str, frame: int | None, out: dict[str, str]) -> str | None:
    """Rule evaluate_vision_plots: trajectory vs truth, error over time, detections drawn on a frame
    (``out``: trajectory / errors / detections -> PNG path)."""
    return run_plots(bundle_path, truth_path, detections_path, cameras_dir, camera_source, frame, out)


def run_evaluate_vision_sweeps(cfg: dict, solver_params: dict, out_json: str, out_png: str, out_timing: str) -> dict:
    """Rule evaluate_vision_sweeps: synthetic sweeps and the DESIGN.md target checks."""
    return run_sweeps_phase(cfg, solver_params, out_json, out_png, out_timing)
