"""Phase ``live``: the functions its rules call (the live tracker on one scene; overlay videos and a top view).

``run_live_scene`` runs the scene's videos through the live tracker as files (``live.pace``) and
writes the track (``track.json``: tracks live_filtered and live_fixed_lag in the bundle's layout, so
evaluate_vision scores them beside the batch methods; no wall-clock field), the per-frame records
(``records.jsonl``, with latencies: a timing file) and the latency distribution (``timing.json``).
In the pipeline a source that stops before the others is an error (the scene's videos have equal
lengths), and nothing is written.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from ball3d.camera import Camera
from ball3d.constants import BALL_RADIUS_M
from ball3d.pitch import line_polylines
from ball3d.videoio import iter_frames, write_video
from pipeutil.figures import plt, save_figure
from pipeutil.io import PipelineError, atomic_path, read_json, write_json

from ball3d.detection.phase import checkpoint_path

from .run import run_live

log = logging.getLogger(__name__)


def run_live_scene(truth_path: str, calib_dir: str, checkpoint: str, params: dict, live: dict, track_path: str,
                   records_path: str, timing_path: str) -> dict:
    """Rule live_scene. ``params``: params.yaml sections preprocess, train_detector, detect, bundle; ``live``:
    params.yaml live. Returns the summary."""
    truth = read_json(truth_path, "scene truth")
    scene_dir = Path(truth_path).parent
    sources = {c: str(scene_dir / pc["video"]) for c, pc in truth["per_camera"].items()}
    lines: list[str] = []
    res = run_live(sources, calib_dir, checkpoint, params, lambda r: lines.append(json.dumps(r)), pace=live["pace"],
                   queue_frames=int(live["queue_frames"]), threads=int(live["threads"]),
                   covariance=bool(live["covariance"]), ball_radius_m=float(truth.get("ball_radius_m", BALL_RADIUS_M)))
    s = res.summary
    if not s["complete"]:
        raise PipelineError(f"live {truth['scene_id']}: {s['stop_reason']} (frame sets {s['frame_sets']})")
    if s["frame_sets"] != int(truth["n_frames"]):
        raise PipelineError(f"live {truth['scene_id']}: {s['frame_sets']} frame sets for {truth['n_frames']} frames")
    keep = ("complete", "stop_reason", "frame_sets", "dropped_frame_sets", "cameras", "fps", "pace")
    payload = {"scene_id": truth["scene_id"], "n_frames": int(truth["n_frames"]), "cameras": s["cameras"],
               "summary": {k: s[k] for k in keep}, "live": live,
               "tracks": {t.method: asdict(t) for t in res.tracks}}
    write_json(track_path, payload)
    with atomic_path(records_path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    write_json(timing_path, {k: s[k] for k in ("seconds", "frame_sets_per_s", "latency_ms", "preprocess_backend",
                                               "dropped_by_source")})
    return s


def run_live_scene_rule(truth_path: str, calib_dir: str, trained: str | None, sections: dict, live: dict,
                        threads: int, track_path: str, records_path: str, timing_path: str) -> dict:
    """Rule live_scene: the heatmap checkpoint the detect phase uses (detect.checkpoint, else this run's
    ``trained`` model.pt), ``threads`` = the job's threads."""
    ckpt = checkpoint_path(sections["detect"], trained)
    return run_live_scene(truth_path, calib_dir, ckpt, sections, {**live, "threads": threads}, track_path,
                          records_path, timing_path)


def _project(cam: Camera, xyz: np.ndarray) -> np.ndarray | None:
    uv, depth = cam.project(np.asarray(xyz, float)[None])
    return uv[0] if depth[0] > 0 and np.all(np.isfinite(uv)) else None


def overlay_frames(video: str, cam: Camera, records: list[dict], track: dict, trail: int):
    """The camera's frames with its candidates (yellow rings, brightest = best), the fixed-lag 3D track
    reprojected (red cross) and its last ``trail`` frames (red line)."""
    pos = dict(zip(track["frames"], (np.asarray(x) for x in track["xyz"])))
    dets = {r["frame"]: r["detections"].get(cam.name, []) for r in records}
    r_px = max(3, cam.width // 160)
    for t, img in iter_frames(video):
        img = img.copy()
        for u, v, s in dets.get(t, []):
            cv2.circle(img, (int(round(u)), int(round(v))), r_px + 2, (0, int(155 + 100 * min(s, 1.0)), 255), 1)
        pts = [_project(cam, pos[k]) for k in range(t - trail, t + 1) if k in pos]
        pts = [p for p in pts if p is not None]
        if len(pts) > 1:
            cv2.polylines(img, [np.round(np.array(pts)).astype(np.int32)], False, (40, 40, 230), 1, cv2.LINE_AA)
        if t in pos and (p := _project(cam, pos[t])) is not None:
            cv2.drawMarker(img, (int(round(p[0])), int(round(p[1]))), (0, 0, 255), cv2.MARKER_CROSS, 3 * r_px, 2)
        cv2.putText(img, f"{cam.name} frame {t}", (6, 14 + r_px), cv2.FONT_HERSHEY_SIMPLEX, 0.35 + cam.width / 4000,
                    (255, 255, 255), 1, cv2.LINE_AA)
        yield img


def plot_top_view(track: dict, truth: dict, cams: list[Camera], out_png: str) -> None:
    """Top view of the pitch: markings, cameras, the live fixed-lag track (coloured by frame) and, with
    ground truth, the true ball path."""
    fig, ax = plt.subplots(figsize=(8, 5.4))
    for line in line_polylines():
        ax.plot(line[:, 0], line[:, 1], color="0.6", lw=0.8)
    for c in cams:
        ax.plot(*c.center[:2], "k^", ms=5)
        ax.annotate(c.name, c.center[:2], fontsize=7)
    if "ball_xyz" in truth:
        b = np.asarray(truth["ball_xyz"])
        ax.plot(b[:, 0], b[:, 1], color="0.2", lw=1, ls="--", label="truth")
    if track["frames"]:
        x = np.asarray(track["xyz"])
        sc = ax.scatter(x[:, 0], x[:, 1], c=track["frames"], s=8, cmap="viridis", label="live fixed-lag")
        fig.colorbar(sc, ax=ax, label="frame")
    else:
        ax.text(0, 0, "no 3D estimate in any frame", ha="center")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"{truth['scene_id']}: live track, top view")
    ax.legend(loc="upper right", fontsize=7)
    save_figure(fig, out_png)
    plt.close(fig)


def run_live_overlay(truth_path: str, calib_dir: str, track_path: str, records_path: str, trail: int,
                     out_videos: dict[str, str], out_top: str) -> None:
    """Rule live_overlay: one overlay video per camera (``out_videos``: camera -> .avi) and the top view."""
    truth, payload = read_json(truth_path, "scene truth"), read_json(track_path, "live track")
    if payload.get("scene_id") != truth["scene_id"]:
        raise PipelineError(f"{track_path}: scene {payload.get('scene_id')!r}, expected {truth['scene_id']!r}")
    try:
        records = [r for r in (json.loads(s) for s in Path(records_path).read_text().splitlines() if s.strip())
                   if r.get("type") == "frame"]
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{records_path}: cannot read live records ({exc})") from exc
    track = payload["tracks"]["live_fixed_lag"]
    cams = [Camera.load(Path(calib_dir) / f"{c}.json") for c in truth["per_camera"]]
    scene_dir = Path(truth_path).parent
    for cam in cams:
        if cam.name not in out_videos:
            raise PipelineError(f"live overlay: no output video for camera {cam.name!r}")
        video = scene_dir / truth["per_camera"][cam.name]["video"]
        write_video(out_videos[cam.name], overlay_frames(str(video), cam, records, track, trail),
                    float(truth.get("fps", 25.0)))
    plot_top_view(track, truth, cams, out_top)
