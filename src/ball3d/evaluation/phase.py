"""Phase ``evaluate_vision``: the functions its rules call (metrics over scenes, plots of one scene, synthetic sweeps)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ball3d.detection_metrics import MetricParams, answers_from_track, per_scene_f1
from ball3d.detection_metrics import evaluate as detection_f1
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


def _live_tracks(live_paths: list[str]) -> dict[str, dict]:
    """scene_id -> tracks (live_filtered, live_fixed_lag) of the live phase's track files."""
    out = {}
    for lp in live_paths:
        payload = _load(lp)
        if "scene_id" not in payload or not isinstance(payload.get("tracks"), dict):
            raise PipelineError(f"{lp}: not a live track file (needs scene_id and tracks)")
        out[payload["scene_id"]] = payload["tracks"]
    return out


def live_vs_batch(out: dict, batch: str = "streaming_fixed_lag", live: str = "live_fixed_lag") -> dict:
    """The live track beside the batch fixed-lag smoother on the same detections: RMSE, p95, coverage and the
    RMSE ratio (issue 14 asks for live within 20 % of batch)."""
    o = out["overall"]
    if live not in o or batch not in o:
        return {}
    row = {m: {k: o[m].get(k) for k in ("rmse_m", "p95_m", "mean_coverage")} for m in (live, batch)}
    a, b = o[live].get("rmse_m"), o[batch].get("rmse_m")
    ok = a is not None and b is not None and np.isfinite(a) and np.isfinite(b) and b > 0
    row["rmse_ratio"] = float(a / b) if ok else None
    row["within_20pct"] = bool(a <= 1.2 * b) if ok else None
    return row


def detection_3d(pairs: list[tuple[dict, dict]], detection_paths: list[str], camera_dirs: list[str], method: str,
                 radius_px: float, mp) -> dict:
    """Per-camera detection F1 of the detector's own answers ("raw") and of the answers re-read with the 3D
    track of ``method`` (``ball3d.detection_metrics.answers_from_track``, "with_3d"): overall, per subset, per
    scene. ``pairs``: (bundle payload, truth) per scene, aligned with the detection files and camera folders."""
    if not (len(pairs) == len(detection_paths) == len(camera_dirs)):
        raise PipelineError(f"evaluate_vision: {len(pairs)} scenes, {len(detection_paths)} detection files and "
                            f"{len(camera_dirs)} calibration folders for the 3D-refined detection F1")
    raw, with_3d = [], []
    for (payload, truth), dp, cd in zip(pairs, detection_paths, camera_dirs):
        if method not in payload["tracks"]:
            raise PipelineError(f"params.yaml: evaluate_vision.detection_3d.method {method!r} is not a track of "
                                f"{dp} 's bundle output (known: {sorted(payload['tracks'])})")
        dets = load_detections(dp, truth)
        cams = load_cameras(cd, truth, payload.get("camera_source", "calibrated"))
        raw.append((truth, dets))
        with_3d.append((truth, answers_from_track(dets, cams, payload["tracks"][method], radius_px, mp.score_threshold)))
    out = {"method": method, "radius_px": radius_px}
    for k, scored in (("raw", raw), ("with_3d", with_3d)):
        s = detection_f1(scored, mp)
        out[k] = {"overall": s["overall"], "subsets": s["subsets"], "per_scene_f1": per_scene_f1(scored, mp)}
    return out


def run_metrics(bundle_paths: list[str], truth_paths: list[str], out_path: str, table_path: str | None = None,
                table_methods: tuple = ("graph_smoothed",), live_paths: list[str] | None = None,
                detections: dict | None = None) -> dict:
    """Metrics of every method on every scene (pairs matched by position), written to ``out_path``; the
    per-scene tables of ``table_methods`` (markdown) to ``table_path``. ``live_paths``: the live phase's
    track files (matched by scene id), scored beside the batch methods (``live_vs_batch``). ``detections``
    ({paths, camera_dirs, method, radius_px, metric_params}, aligned with ``bundle_paths``): also the
    per-camera detection F1 raw and re-read with that 3D track (``detection_3d``)."""
    if len(bundle_paths) != len(truth_paths):
        raise PipelineError(f"evaluate_vision: {len(bundle_paths)} bundle files but {len(truth_paths)} truth files")
    live = _live_tracks(live_paths or [])
    pairs, kept = [], []  # kept: the index of each evaluated scene in bundle_paths (real footage is skipped)
    for k, (bp, tp) in enumerate(zip(bundle_paths, truth_paths)):
        payload, truth = _load(bp), _load(tp)
        if truth.get("scene_id") in live:
            payload["tracks"] = {**payload["tracks"], **live.pop(truth["scene_id"])}
        if truth.get("ground_truth", True) is False:  # real footage (split real): nothing to compare with
            log.info("%s: no ground truth, not evaluated", tp)
            continue
        if payload.get("scene_id") != truth.get("scene_id"):
            raise PipelineError(f"{bp}: scene {payload.get('scene_id')!r} does not match {tp} ({truth.get('scene_id')!r})")
        pairs.append((payload, truth))
        kept.append(k)
    if live:
        raise PipelineError(f"evaluate_vision: live tracks of scenes {sorted(live)} have no bundle output to compare with")
    out = evaluate_all(pairs)
    out["files"] = list(bundle_paths) + list(live_paths or [])
    out["live_vs_batch"] = live_vs_batch(out)
    if detections is not None:
        d = detections
        out["detection_3d"] = detection_3d(
            pairs, [d["paths"][k] for k in kept], [d["camera_dirs"][k] for k in kept],
            d["method"], float(d["radius_px"]), MetricParams(**d["metric_params"]))
        for k in ("raw", "with_3d"):
            v = out["detection_3d"][k]
            log.info("detection F1 %-8s overall %.4f %s", k, v["overall"]["f1"],
                     {s: x["f1"] for s, x in v["subsets"].items()})
    for m, v in out["overall"].items():
        h = out["headline"][m]
        log.info("%-20s RMSE %.4f m  p95 %.4f m  coverage %.3f  median scene RMSE %.4f m  worst %s %.4f m  "
                 "wrong fixes %d/%d", m, v["rmse_m"], v["p95_m"], v["mean_coverage"], h["median_scene_rmse_m"],
                 h["worst_scene"], h["worst_scene_rmse_m"], h["wrong_fixes"], h["returned_frames"])
    if table_path is not None:
        unknown = [m for m in table_methods if m not in out["overall"] and not m.startswith("live_")]  # live: heatmap only
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
                                table_path: str | None = None, table_methods: tuple = ("graph_smoothed",),
                                live_paths: list[str] | None = None, detections: dict | None = None) -> dict:
    """Rule evaluate_vision_metrics: RMSE / median / p95 / coverage / wrong fixes of every 3D method (and of the
    live tracker's tracks, ``live_paths``) on every scene against truth, headline figures, and the per-scene
    markdown table of ``table_methods``."""
    return run_metrics(bundle_paths, truth_paths, out_path, table_path, tuple(table_methods), live_paths, detections)


def _records(path: str) -> list[dict]:
    try:
        return [json.loads(s) for s in Path(path).read_text().splitlines() if s.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path}: cannot read live records ({exc})") from exc


def run_evaluate_vision_live(records_paths: list[str], metrics_path: str, out_json: str, out_md: str) -> dict:
    """Rule evaluate_vision_live: latency p50 / p95 / max per stage pooled over every live frame set, frame
    sets/s per scene (a timing file), and a markdown page with live beside batch (from ``metrics_path``)."""
    lat: dict[str, list[float]] = {}
    scenes = {}
    for rp in records_paths:
        recs = _records(rp)
        if not recs or recs[-1].get("type") != "summary":
            raise PipelineError(f"{rp}: no summary record at the end (an interrupted live run?)")
        scenes[str(Path(rp).parent.name)] = {k: recs[-1][k] for k in ("frame_sets", "dropped_frame_sets",
                                                                      "frame_sets_per_s", "stop_reason")}
        for r in recs[:-1]:
            for k, v in r.get("latency_ms", {}).items():
                lat.setdefault(k, []).append(float(v))
    pooled = {k: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)), "max": float(np.max(v)),
                  "n": len(v)} for k, v in lat.items()}
    out = {"latency_ms": pooled, "scenes": scenes}
    cmp = _load(metrics_path).get("live_vs_batch", {})
    lines = ["# Live tracker beside batch", "", "| method | RMSE cm | p95 cm | coverage |", "|---|---|---|---|"]
    for m in ("live_fixed_lag", "streaming_fixed_lag"):
        v = cmp.get(m)
        if v:
            cm = [f"{100 * v[k]:.2f}" if v[k] is not None else "-" for k in ("rmse_m", "p95_m")]
            lines.append(f"| {m} | {cm[0]} | {cm[1]} | {v['mean_coverage']:.3f} |")
    if cmp.get("rmse_ratio") is not None:
        lines += ["", f"RMSE ratio live / batch: {cmp['rmse_ratio']:.3f} (within 20 %: {cmp['within_20pct']})"]
    lines += ["", "| stage | p50 ms | p95 ms | max ms |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['p50']:.2f} | {v['p95']:.2f} | {v['max']:.2f} |" for k, v in pooled.items()]
    lines += ["", "| scene | frame sets | dropped | frame sets/s |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['frame_sets']} | {v['dropped_frame_sets']} | {v['frame_sets_per_s']:.2f} |"
              for k, v in scenes.items()]
    with atomic_path(out_md) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    write_json(out_json, out)
    return out


def run_evaluate_vision_plots(bundle_path: str, truth_path: str, detections_path: str, cameras_dir: str | None,
                              camera_source: str, frame: int | None, out: dict[str, str]) -> str | None:
    """Rule evaluate_vision_plots: trajectory vs truth, error over time, detections drawn on a frame
    (``out``: trajectory / errors / detections -> PNG path)."""
    return run_plots(bundle_path, truth_path, detections_path, cameras_dir, camera_source, frame, out)


def run_evaluate_vision_sweeps(cfg: dict, solver_params: dict, out_json: str, out_png: str, out_timing: str) -> dict:
    """Rule evaluate_vision_sweeps: synthetic sweeps and the DESIGN.md target checks."""
    return run_sweeps_phase(cfg, solver_params, out_json, out_png, out_timing)
