"""Classical ball detector: foreground mask -> connected blobs -> size and circularity -> top-K.

The baseline the heatmap network is compared against. It reads the same ``CameraClip`` (the
foreground channel at detector scale) and emits the same per-frame candidates [u, v, score] in
detector pixels. Score = roundness x fill x contrast x size x brightness, each in [0, 1]:
roundness = short / long side of the blob's bounding box, fill = area / area of the circle whose
diameter is the long side, contrast = mean foreground strength of the blob, size = area / (area + 3)
(blobs of 1-2 px, sensor noise in the mask, are dropped), brightness = the blob's brightest grey
value / 3 standard deviations of the frame, clipped to 1 (the ball is white).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .inputs import CameraClip


@dataclass
class ClassicalParams:
    scale: float = 0.5  # frame size it works at / full resolution
    fg_threshold: float = 0.5  # foreground strength (0-1) above which a pixel is foreground
    min_radius_px: float = 1.0  # smallest ball radius considered, full-resolution pixels
    max_radius_px: float = 8.0  # largest ball radius considered, full-resolution pixels
    min_score: float = 0.05  # candidates below this score are dropped
    top_k: int = 5  # candidates kept per frame


def blob_candidates(fg: np.ndarray, p: ClassicalParams, scale: float, gray: np.ndarray | None = None) -> np.ndarray:
    """One frame's foreground (h, w) in [0, 1] (and its standardised grey frame) -> (n <= top_k, 3)
    rows [u, v, score], best first."""
    mask = (fg > p.fg_threshold).astype(np.uint8)  # (h, w)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    r_lo, r_hi = p.min_radius_px * scale, p.max_radius_px * scale
    a_lo, a_hi = max(3.0, 0.5 * np.pi * r_lo**2), np.pi * r_hi**2 * 1.5  # 1-2 px blobs are sensor noise
    rows = []
    for i in range(1, n):
        x, y, w, h, area = (int(s) for s in stats[i])
        if not (a_lo <= area <= a_hi) or max(w, h) > 2 * r_hi + 2:
            continue
        roundness = min(w, h) / max(w, h)
        fill = min(1.0, area / (np.pi * (max(w, h) / 2.0) ** 2))
        ys, xs = np.nonzero(labels[y:y + h, x:x + w] == i)
        wts = fg[y + ys, x + xs]  # (m,) foreground strength inside the blob
        contrast = float(wts.mean())
        u = x + float((xs * wts).sum() / wts.sum())
        v = y + float((ys * wts).sum() / wts.sum())
        score = roundness * fill * contrast * area / (area + 3.0)  # larger blobs are surer
        if gray is not None:  # the ball is white: brighter than grass, shirts, skin (std units)
            score *= float(np.clip(gray[y + ys, x + xs].max() / 3.0, 0.0, 1.0))
        if score >= p.min_score:
            rows.append([u, v, score])
    rows.sort(key=lambda r: -r[2])
    return np.asarray(rows[:p.top_k], dtype=np.float64).reshape(-1, 3)


def detect_clip_classical(clip: CameraClip, p: ClassicalParams) -> list[np.ndarray]:
    """Per-frame candidates (n, 3) in detector pixels for every frame of the clip."""
    scale = clip.det_size[0] / clip.full_size[0]
    return [blob_candidates(clip.fg[t], p, scale, clip.gray[t]) for t in range(clip.n_frames)]
