"""Heatmap inference: top-K peaks with NMS and sub-pixel refinement, full-frame and ROI modes.

ROI mode runs the network on a square crop around the predicted ball position (from a given
per-frame prediction, e.g. the 3D track reprojected, or else constant-velocity extrapolation of
this camera's last confident detections) and falls back to the full frame when no prediction
exists or the crop's best peak is below ``track_threshold``. Mode ``roi3d`` (all cameras of a
scene frame by frame, ROIs from the 3D track) lives in ``ball3d.roi3d`` and reuses
``detect_frame`` and ``extrapolate``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from pipeutil.io import PipelineError

from .inputs import CameraClip, stack_input
from .monitor import MonitorConfig
from .network import STRIDE, HeatmapNet, pad_to_stride

log = logging.getLogger(__name__)


@dataclass
class DetectParams:
    top_k: int = 5  # candidates kept per frame and camera
    min_score: float = 0.05  # candidates below this score are dropped
    nms_radius: int = 3  # detector pixels; peaks closer than this to a stronger one are suppressed
    mode: str = "roi3d"  # "roi3d" (ROIs from the 3D track), "roi" (per-camera 2D tracking) or "full"
    roi_size: int = 96  # side of the ROI crop, detector pixels (multiple of 4)
    track_threshold: float = 0.3  # best ROI peak below this -> target lost, rerun on the full frame
    max_gap: int = 5  # frames a track may coast on extrapolation before it is dropped
    full_every: int = 20  # ROI modes: every N-th frame runs on the full frame anyway (re-acquisition, roi3d safety net; 0 = never)
    roi3d_fallback: bool = False  # roi3d: a weak crop at the 3D track's projection reruns the full frame (else kept)
    disagree_factor: float = 0.5  # roi3d: scores of candidates outside the gate around the frame's 3D fix are multiplied by this
    chunk: int = 4  # frames per batch in full-frame mode
    device: str = "auto"  # cpu | cuda | auto
    monitor: MonitorConfig = field(default_factory=MonitorConfig)  # roi3d: lost-track monitor (ball3d.detection.monitor)


def topk_peaks(heat: np.ndarray, k: int, nms_radius: int, min_score: float) -> np.ndarray:
    """Local maxima of a probability map (h, w) -> (n <= k, 3) rows [u, v, score], sub-pixel refined."""
    h = torch.from_numpy(np.ascontiguousarray(heat, dtype=np.float32))[None, None]  # (1, 1, h, w)
    r = max(1, int(nms_radius))
    hmax = F.max_pool2d(h, 2 * r + 1, stride=1, padding=r)  # (1, 1, h, w)
    peaks = (h == hmax) & (h >= min_score)
    flat = torch.where(peaks, h, torch.zeros_like(h)).flatten()
    n = int(min(k, int(peaks.sum())))
    if n == 0:
        return np.zeros((0, 3), dtype=np.float64)
    scores, idx = torch.topk(flat, n)
    W = heat.shape[1]
    rows = []
    for s, i in zip(scores.tolist(), idx.tolist()):
        y, x = divmod(i, W)
        rows.append([x + _subpixel(heat, y, x, 0), y + _subpixel(heat, y, x, 1), s])
    return np.asarray(rows, dtype=np.float64)


def _subpixel(heat: np.ndarray, y: int, x: int, axis: int) -> float:
    """Offset of the peak along u (axis 0) or v (axis 1) from a parabola through log-scores (Gaussian fit)."""
    H, W = heat.shape
    if axis == 0:
        if x == 0 or x == W - 1:
            return 0.0
        a, b, c = heat[y, x - 1], heat[y, x], heat[y, x + 1]
    else:
        if y == 0 or y == H - 1:
            return 0.0
        a, b, c = heat[y - 1, x], heat[y, x], heat[y + 1, x]
    la, lb, lc = (float(np.log(max(v, 1e-6))) for v in (a, b, c))
    den = la - 2 * lb + lc
    if den >= -1e-9:
        return 0.0
    return float(np.clip(0.5 * (la - lc) / den, -0.5, 0.5))


@torch.inference_mode()
def heatmaps(model: HeatmapNet, x: np.ndarray) -> np.ndarray:
    """Probability maps of a batch: x (B, C, h, w) -> (B, h, w)."""
    dev = next(model.parameters()).device
    xt, H, W = pad_to_stride(torch.from_numpy(x).to(dev))  # (B, C, H', W')
    return torch.sigmoid(model(xt))[:, 0, :H, :W].cpu().numpy()  # (B, h, w)


def roi_window(center: np.ndarray, size: int, det_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a size x size crop centred on ``center`` (u, v), shifted inside the frame."""
    w, h = det_size
    sw, sh = min(size, w - w % STRIDE), min(size, h - h % STRIDE)
    x0 = int(np.clip(round(center[0] - sw / 2), 0, w - sw))
    y0 = int(np.clip(round(center[1] - sh / 2), 0, h - sh))
    return x0, y0, x0 + sw, y0 + sh


def extrapolate(history: list[tuple[int, np.ndarray]], t: int, max_gap: int) -> np.ndarray | None:
    """Constant-velocity prediction (detector px) from the last two confident detections."""
    if not history or t - history[-1][0] > max_gap:
        return None
    if len(history) == 1:
        return history[-1][1]
    (t0, p0), (t1, p1) = history[-2], history[-1]
    return p1 + (p1 - p0) / max(1, t1 - t0) * (t - t1)


def detect_frame(model: HeatmapNet, clip: CameraClip, t: int, centre: np.ndarray | None, p: DetectParams,
                 stats: dict, fallback: bool = True) -> np.ndarray:
    """Candidates (n, 3) of frame t in detector px: the ROI around ``centre`` (detector px) when given,
    else, or when the crop's best peak is below ``track_threshold`` and ``fallback``, the full frame.
    Counts in ``stats``."""
    cfg = model.cfg
    if centre is not None and np.all(np.isfinite(centre)):
        win = roi_window(centre, p.roi_size, clip.det_size)
        heat = heatmaps(model, stack_input(clip, t, cfg.n_frames, cfg.use_foreground, win, cfg.color)[None])[0]
        cands = topk_peaks(heat, p.top_k, p.nms_radius, p.min_score)
        cands[:, 0] += win[0]
        cands[:, 1] += win[1]
        stats["roi_frames"] += 1
        if not fallback or (len(cands) and cands[0, 2] >= p.track_threshold):
            return cands
        stats["fallbacks"] = stats.get("fallbacks", 0) + 1
    heat = heatmaps(model, stack_input(clip, t, cfg.n_frames, cfg.use_foreground, None, cfg.color)[None])[0]
    stats["full_frames"] += 1
    return topk_peaks(heat, p.top_k, p.nms_radius, p.min_score)


def confident(cands: np.ndarray, p: DetectParams) -> bool:
    """Whether the best candidate is confident enough for a track to follow it."""
    return bool(len(cands) and cands[0, 2] >= p.track_threshold)


def detect_clip(model: HeatmapNet, clip: CameraClip, p: DetectParams,
                predictions: list | None = None) -> tuple[list[np.ndarray], dict]:
    """Top-K candidates per frame in detector pixels [(n, 3) per frame] and run statistics.

    predictions: optional per-frame full-resolution (u, v) or None (e.g. the 3D track reprojected).
    Mode "roi3d" needs every camera of the scene at once (``ball3d.roi3d.detect_scene_roi3d``).
    """
    if p.mode == "full":
        return _detect_full(model, clip, p), {"full_frames": clip.n_frames, "roi_frames": 0}
    if p.mode != "roi":
        raise PipelineError(f"detect.mode: {p.mode!r} cannot run on a single camera clip; use roi or full here")
    out, history, stats = [], [], {"full_frames": 0, "roi_frames": 0, "fallbacks": 0}
    for t in range(clip.n_frames):
        pred = None
        if predictions is not None and predictions[t] is not None:
            pred = clip.to_det(np.asarray(predictions[t]))[0]
        elif predictions is None:
            pred = extrapolate(history, t, p.max_gap)
        periodic = p.full_every > 0 and t % p.full_every == 0
        cands = detect_frame(model, clip, t, None if periodic else pred, p, stats)
        if confident(cands, p):  # the track follows the best confident peak
            history = (history + [(t, cands[0, :2].copy())])[-2:]
        out.append(cands)
    return out, stats


def _detect_full(model: HeatmapNet, clip: CameraClip, p: DetectParams) -> list[np.ndarray]:
    cfg, out = model.cfg, []
    for t0 in range(0, clip.n_frames, p.chunk):
        ts = range(t0, min(clip.n_frames, t0 + p.chunk))
        x = np.stack([stack_input(clip, t, cfg.n_frames, cfg.use_foreground, None, cfg.color) for t in ts])  # (b, C, h, w)
        for heat in heatmaps(model, x):
            out.append(topk_peaks(heat, p.top_k, p.nms_radius, p.min_score))
    return out


def to_full_res(clip: CameraClip, cands: list[np.ndarray]) -> list[list[list[float]]]:
    """Per-frame candidates in detector px -> JSON rows [[u, v, score], ...] in full-resolution px."""
    rows = []
    for c in cands:
        uv = clip.to_full(c[:, :2]) if len(c) else np.zeros((0, 2))
        rows.append([[round(float(u), 3), round(float(v), 3), round(float(s), 5)] for (u, v), s in zip(uv, c[:, 2])])
    return rows


def detect_scene_net(model: HeatmapNet, clips: list[CameraClip], p: DetectParams,
                     timing: dict | None = None) -> tuple[dict, dict]:
    """Run the network on every camera of a scene: per_camera rows (full-res) and run statistics (frame counts);
    ``timing``, when given, receives seconds and frames/s per camera (wall clock: not part of the result)."""
    per_camera, stats = {}, {}
    for clip in clips:
        t0 = time.perf_counter()
        cands, st = detect_clip(model, clip, p)
        seconds = time.perf_counter() - t0
        per_camera[clip.camera], stats[clip.camera] = to_full_res(clip, cands), st
        if timing is not None:
            timing[clip.camera] = {"seconds": round(seconds, 4), "fps": round(clip.n_frames / max(seconds, 1e-9), 2)}
        log.info("camera %s: %d frames, %.1f frames/s (%d ROI, %d full)", clip.camera, clip.n_frames,
                 clip.n_frames / max(seconds, 1e-9), st["roi_frames"], st["full_frames"])
    return per_camera, stats
