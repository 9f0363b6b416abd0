"""Benchmark of the ball detector on the CPU, side by side in one run: frames/s per camera.

Compared on the same 1080p camera clip (detector frames at ``scale`` of 1920x1080, i.e. 960x540
by default), per frame: input stacking + network + top-K peak extraction (video decoding and
pre-processing are the preprocess phase's own benchmark):
1. heatmap network on the full frame;
2. heatmap network in ROI mode (a ``roi_size`` crop around the predicted position; the pure
   tracking cost, measured with a prediction on every frame and no fallback), and the same
   amortised with the periodic full-frame re-acquisition of the pipeline (``full_every``);
3. ROI mode end to end (constant-velocity tracking with full-frame fallback) when a trained
   checkpoint and a real scene are given (--checkpoint, --scene [--prep --calib]);
4. the classical baseline (foreground blobs).
Each at 1 and 2 torch threads. Ratios: ROI / full frame. Target: >= 25 frames/s per camera in
ROI mode on 2 cores.

    python benchmarks/bench_detector.py --out results/bench/detector.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from ball3d.classical import ClassicalParams, detect_clip_classical
from ball3d.detect import DetectParams, detect_clip
from ball3d.detector import DetectorConfig, HeatmapNet, load_checkpoint
from ball3d.detinput import CameraClip, det_shape, load_scene_clips

TARGET_FPS = 25.0


def synthetic_clip(full: tuple[int, int], scale: float, n: int, color: bool, seed: int = 0) -> CameraClip:
    """A clip of noise frames with a bright disc moving across (content does not change the cost)."""
    w, h = det_shape(full, scale)
    rng = np.random.default_rng(seed)
    gray = rng.normal(0, 1, (n, h, w)).astype(np.float32)  # (T, h, w)
    fg = np.zeros((n, h, w), np.float32)  # (T, h, w) foreground: the ball and 12 "players"
    for x, y in rng.integers(0, [w - 8, h - 20], (12, 2)):
        fg[:, y:y + 20, x:x + 8] = 1.0
    yy, xx = np.mgrid[0:h, 0:w]
    for t in range(n):
        disc = (xx - (100 + 8 * t)) ** 2 + (yy - h / 2) ** 2 <= 4
        gray[t][disc], fg[t][disc] = 4.0, 1.0
    col = np.repeat(gray[:, None], 3, axis=1).astype(np.float16) if color else None  # (T, 3, h, w)
    return CameraClip("bench", gray, fg, full_size=full, color=col)


def fps(fn, n_frames: int, repeats: int) -> float:
    """Best-of-``repeats`` frames per second of ``fn`` (which processes ``n_frames`` frames)."""
    fn()  # warm-up
    best = min(_timed(fn) for _ in range(repeats))
    return n_frames / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(model: HeatmapNet, clip: CameraClip, dp: DetectParams, cp: ClassicalParams, repeats: int,
            real: CameraClip | None) -> dict:
    n = clip.n_frames
    centre = [clip.to_full([[100 + 8 * t, clip.det_size[1] / 2]])[0] for t in range(n)]
    roi = replace(dp, mode="roi", track_threshold=0.0, min_score=0.0, full_every=0)  # never falls back
    row = {"full_frame_fps": fps(lambda: detect_clip(model, clip, replace(dp, mode="full", chunk=1)), n, repeats),
           "roi_fps": fps(lambda: detect_clip(model, clip, roi, predictions=centre), n, repeats),
           "classical_fps": fps(lambda: detect_clip_classical(clip, cp), n, repeats)}
    row["roi_vs_full"] = row["roi_fps"] / row["full_frame_fps"]
    if dp.full_every:  # ROI mode as the pipeline runs it: every full_every-th frame whole
        k = dp.full_every
        row["roi_with_reacquisition_fps"] = 1.0 / ((k - 1) / k / row["roi_fps"] + 1 / k / row["full_frame_fps"])
    if real is not None:
        stats = {}

        def run():
            stats.update(detect_clip(model, real, replace(dp, mode="roi"))[1])
        row["roi_tracking_fps_real"] = fps(run, real.n_frames, repeats)
        row["roi_tracking_stats_real"] = dict(stats)
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint", default="results/train_detector/model.pt", help="used when it exists")
    ap.add_argument("--scene", help="a rendered scene folder for the end-to-end ROI tracking figure")
    ap.add_argument("--prep", help="its preprocess folder (with --calib)")
    ap.add_argument("--calib", help="its calibrate folder")
    ap.add_argument("--camera", default=None, help="camera of --scene (default: first)")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--roi-size", type=int, default=96)
    a = ap.parse_args()
    if Path(a.checkpoint).is_file():
        model, _ = load_checkpoint(a.checkpoint)
        source = a.checkpoint
    else:
        torch.manual_seed(0)
        model, source = HeatmapNet(DetectorConfig()).eval(), "untrained network of the default config"
    clip = synthetic_clip((1920, 1080), model.cfg.scale, a.frames, model.cfg.color)
    real = None
    if a.scene:
        _, clips = load_scene_clips(a.scene, model.cfg.scale, a.prep, a.calib, [a.camera] if a.camera else None,
                                    color=model.cfg.color)
        real = clips[0]
    dp, cp = DetectParams(roi_size=a.roi_size), ClassicalParams(scale=model.cfg.scale)
    result = {"model": source, "config": asdict(model.cfg), "detect_params": asdict(dp),
              "det_frame": list(clip.det_size), "full_resolution": [1920, 1080], "frames": a.frames,
              "target_roi_fps_2_threads": TARGET_FPS, "machine": platform.processor() or platform.machine(),
              "torch": str(torch.__version__), "threads": {}}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        result["threads"][str(threads)] = measure(model, clip, dp, cp, a.repeats, real)
        print(threads, "threads:", result["threads"][str(threads)], flush=True)
    two = result["threads"]["2"]
    result["meets_target"] = two["roi_fps"] >= TARGET_FPS
    result["ratio_roi_vs_full_2_threads"] = two["roi_vs_full"]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
