"""Driving the live tracker: open the sources, check them against the calibration, run frame sets
through ``LiveTracker``, emit one JSON record per frame set and a summary, close cleanly.

Stops on the end of a source (every source at the same frame: complete; one earlier than the
others: a reported degradation, ``complete: false``), on Ctrl-C (KeyboardInterrupt: reported as
such), or after ``max_frames`` sets. The last record is always the summary (``type: summary``):
why it stopped, frame sets processed and dropped, and the latency distribution per stage.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ball3d.camera import Camera
from ball3d.constants import BALL_RADIUS_M
from ball3d.detection.network import load_checkpoint, resolve_device
from ball3d.detection.phase import configs
from ball3d.detection.roi3d import assoc_config
from ball3d.fusion.graph import BundleConfig
from ball3d.preprocess.phase import resolve_backend, set_cpu_threads
from ball3d.records import Track3D
from pipeutil.config import from_params
from pipeutil.io import PipelineError

from .sources import FrameSets, open_sources
from .tracker import STAGES, LiveTracker

log = logging.getLogger(__name__)


@dataclass
class LiveResult:
    summary: dict
    tracks: tuple[Track3D, Track3D]  # live_filtered, live_fixed_lag
    latency_ms: dict = field(default_factory=dict)  # stage -> per-frame-set latencies, ms


def load_rig(cameras_dir: str | Path, names: list[str]) -> list[Camera]:
    """<cameras_dir>/<name>.json for every source's camera name (PipelineError naming what is missing)."""
    cams = []
    for n in names:
        path = Path(cameras_dir) / f"{n}.json"
        if not path.is_file():
            raise PipelineError(f"{path}: no calibration for camera {n!r} (one <camera>.json per source expected)")
        cam = Camera.load(path)
        if cam.name != n:
            raise PipelineError(f"{path}: describes camera {cam.name!r}, expected {n!r}")
        cams.append(cam)
    return cams


def _check_sizes(sources, cams, cameras_dir) -> None:
    for s, c in zip(sources, cams):
        if s.size != (c.width, c.height):
            raise PipelineError(f"source {s.spec!r}: frames are {s.size[0]}x{s.size[1]} but the calibration "
                                f"{Path(cameras_dir) / (c.name + '.json')} is for {c.width}x{c.height} images")


def pixel_scaled(params: dict, width: int) -> tuple:
    """(AssocConfig, BundleConfig) from params.yaml bundle, pixel values scaled by width / 1920 (as the bundle)."""
    b = params["bundle"]
    acfg = assoc_config(b["association"], width)
    g = from_params(BundleConfig, b["graph"], "params.yaml: bundle.graph")
    s = width / 1920.0
    g.pixel_sigma_px, g.gap_gate_px = g.pixel_sigma_px * s, g.gap_gate_px * s
    return acfg, g


def stats(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    a = np.asarray(values)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "max": round(float(a.max()), 3), "n": int(len(a))}


def run_live(sources: dict[str, str], cameras_dir: str | Path, checkpoint: str | Path, params: dict,
             emit: Callable[[dict], None], pace: str = "fast", queue_frames: int = 4, fps: float | None = None,
             max_frames: int | None = None, threads: int = 1, covariance: bool = True,
             ball_radius_m: float = BALL_RADIUS_M) -> LiveResult:
    """Track the ball live over ``sources`` (camera name -> video file / device index / URL).

    pace: ``fast`` (files as fast as possible, queues block, nothing dropped) or ``realtime`` (files
    read at their frame rate, like cameras; a full queue drops the frame). Devices and URLs always
    run in real time. ``params``: the params.yaml mapping (sections preprocess, train_detector,
    detect, bundle). Emits one record per frame set, then the summary; returns the summary and tracks.
    """
    if pace not in ("fast", "realtime"):
        raise PipelineError(f"live: pace must be 'fast' or 'realtime', got {pace!r}")
    torch.set_num_threads(max(1, threads))
    set_cpu_threads(threads)
    cams = load_rig(cameras_dir, list(sources))
    model, _ = load_checkpoint(checkpoint, expect={"input_source": "preprocess"})
    _, _, dp, _, _ = configs(params["train_detector"], params["detect"])
    model.to(resolve_device(dp.device))
    srcs = open_sources(sources, fps)
    try:
        _check_sizes(srcs, cams, cameras_dir)
    except PipelineError:
        for s in srcs:
            s.cap.release()
        raise
    rate = srcs[0].fps
    acfg, gcfg = pixel_scaled(params, cams[0].width)
    st = params["bundle"]["streaming"]
    use_gpu = resolve_backend(params["preprocess"]["backend"])
    tracker = LiveTracker(model, cams, dp, acfg, gcfg, params["preprocess"], rate, int(st["lag_frames"]),
                          float(st["innovation_gate_m"]), use_gpu, covariance, ball_radius_m)
    files = all(s.is_file for s in srcs)  # capture time: the file's clock (t / fps), else the wall clock at grab
    realtime = pace == "realtime" or not files
    sets = FrameSets(srcs, queue_frames, "drop" if realtime else "block", pace == "realtime")
    lat: dict[str, list[float]] = {k: [] for k in STAGES}
    n, reason, t_start = 0, "", time.perf_counter()
    try:
        for frames in sets:
            t_pick = time.perf_counter()
            t = frames[0].index
            rec, l = tracker.process(t, [f.image for f in frames], t / rate if files else min(f.captured for f in frames))
            grabbed = min(f.grabbed for f in frames)
            l.update(decode=max(f.decode_s for f in frames), queue=t_pick - max(f.grabbed + f.decode_s for f in frames))
            rec["dropped_before"] = sets.dropped_sets
            rec["latency_ms"] = {k: round(1e3 * l[k], 3) for k in STAGES if k in l}
            rec["latency_ms"]["total"] = round(1e3 * (time.perf_counter() - grabbed), 3)
            emit(rec)
            for k in STAGES:
                lat[k].append(rec["latency_ms"][k])
            n += 1
            if max_frames is not None and n >= max_frames:
                reason = f"max_frames {max_frames} reached"
                break
        reason = reason or sets.end_reason
    except KeyboardInterrupt:
        reason = "interrupted (Ctrl-C)"
    finally:
        sets.close()
    wall = time.perf_counter() - t_start
    complete = reason.startswith("end of every source") or reason.startswith("max_frames")
    summary = {"type": "summary", "complete": complete, "stop_reason": reason, "frame_sets": n,
               "dropped_frame_sets": sets.dropped_sets, "dropped_by_source": sets.dropped,
               "cameras": [c.name for c in cams], "fps": rate, "pace": "realtime" if realtime else "fast",
               "preprocess_backend": "cuda" if use_gpu else "cpu", "seconds": round(wall, 3),
               "frame_sets_per_s": round(n / max(wall, 1e-9), 3), "latency_ms": {k: stats(v) for k, v in lat.items()}}
    emit(summary)
    log.info("live: %s; %d frame sets (%.1f/s), %d dropped", reason, n, summary["frame_sets_per_s"], sets.dropped_sets)
    return LiveResult(summary, tracker.tracks(), lat)
