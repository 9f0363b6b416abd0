"""Detector input: one camera's video as downscaled, normalised grey frames plus a foreground channel.

A ``CameraClip`` is what the heatmap network and the classical baseline read. Coordinates:
detector pixels (u, v) map to full-resolution distorted pixels by
``u_full = (u + 0.5) * W / w - 0.5`` (pixel centres are integers at both resolutions).

The clip is built either from the scene's video (``load_clip``: grey, area downscale, per-frame
standardisation, temporal-median background) or from arrays produced by the preprocess phase
(``clip_from_arrays``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipeutil.io import PipelineError


@dataclass
class CameraClip:
    camera: str
    gray: np.ndarray  # (T, h, w) float32, standardised per frame (mean 0, std 1)
    fg: np.ndarray  # (T, h, w) float32 in [0, 1], foreground strength |frame - background|
    full_size: tuple[int, int]  # (W, H) of the full-resolution video
    low_light: bool = False
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.gray.ndim != 3 or self.gray.shape != self.fg.shape:
            raise PipelineError(f"camera {self.camera!r}: grey frames {self.gray.shape} and foreground "
                                f"{self.fg.shape} must both be (T, h, w)")

    @property
    def n_frames(self) -> int:
        return int(self.gray.shape[0])

    @property
    def det_size(self) -> tuple[int, int]:
        """(w, h) of the detector frames."""
        return int(self.gray.shape[2]), int(self.gray.shape[1])

    def to_full(self, uv: np.ndarray) -> np.ndarray:
        """Detector pixels (N, 2) -> full-resolution pixels (N, 2)."""
        sx, sy = self.full_size[0] / self.det_size[0], self.full_size[1] / self.det_size[1]
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        return np.stack([(uv[:, 0] + 0.5) * sx - 0.5, (uv[:, 1] + 0.5) * sy - 0.5], axis=1)

    def to_det(self, uv: np.ndarray) -> np.ndarray:
        """Full-resolution pixels (N, 2) -> detector pixels (N, 2)."""
        sx, sy = self.full_size[0] / self.det_size[0], self.full_size[1] / self.det_size[1]
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        return np.stack([(uv[:, 0] + 0.5) / sx - 0.5, (uv[:, 1] + 0.5) / sy - 0.5], axis=1)


def det_shape(full_size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(w, h) of the detector frames for a full-resolution (W, H) and a scale factor."""
    return max(8, int(round(full_size[0] * scale))), max(8, int(round(full_size[1] * scale)))


def read_video_gray(path: str | Path, max_frames: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """All frames of a video as grey uint8 (T, H, W) and its (W, H). Unreadable -> PipelineError."""
    if not Path(path).is_file():
        raise PipelineError(f"{path}: video file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise PipelineError(f"{path}: OpenCV cannot open this video")
    frames = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img)
    finally:
        cap.release()
    if not frames:
        raise PipelineError(f"{path}: the video holds no readable frame")
    H, W = frames[0].shape
    return np.stack(frames), (W, H)  # (T, H, W) uint8


def standardise(frames: np.ndarray) -> np.ndarray:
    """Per-frame zero mean, unit std: (T, h, w) -> float32 (T, h, w). Makes low-light frames comparable."""
    x = frames.astype(np.float32)
    mu = x.mean(axis=(1, 2), keepdims=True)
    sd = x.std(axis=(1, 2), keepdims=True)
    return (x - mu) / np.maximum(sd, 1e-3)


def foreground(gray: np.ndarray, window: int = 15) -> np.ndarray:
    """Foreground strength in [0, 1] from a sliding temporal-median background.

    gray: (T, h, w) standardised frames. The background of frame t is the median of up to
    ``window`` frames centred on t (static cameras); the foreground is |frame - background|
    divided by 3 std units and clipped to [0, 1].
    """
    T = gray.shape[0]
    out = np.empty_like(gray)
    half = max(1, window // 2)
    step = max(1, half // 2)
    for c0 in range(0, T, step):  # recompute the median every `step` frames (cheap, stable)
        lo, hi = max(0, c0 - half), min(T, c0 + half + 1)
        bg = np.median(gray[lo:hi:max(1, (hi - lo) // window)], axis=0)  # (h, w)
        sl = slice(c0, min(T, c0 + step))
        out[sl] = np.abs(gray[sl] - bg[None]) / 3.0
    return np.clip(out, 0.0, 1.0)


def load_clip(video: str | Path, camera: str, scale: float, low_light: bool = False,
              expected_frames: int | None = None, fg_window: int = 15) -> CameraClip:
    """Read one camera's video into a detector clip at ``scale`` of the full resolution."""
    raw, full = read_video_gray(video)
    if expected_frames is not None and raw.shape[0] != expected_frames:
        raise PipelineError(f"{video}: {raw.shape[0]} frames, but the scene truth says {expected_frames}")
    w, h = det_shape(full, scale)
    small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in raw])  # (T, h, w)
    gray = standardise(small)
    return CameraClip(camera=camera, gray=gray, fg=foreground(gray, fg_window), full_size=full,
                      low_light=low_light, meta={"source": str(video), "scale": scale})


def clip_from_arrays(camera: str, gray: np.ndarray, fg: np.ndarray, full_size: tuple[int, int],
                     low_light: bool = False, source: str = "") -> CameraClip:
    """Wrap arrays produced elsewhere (e.g. the preprocess phase); grey frames are re-standardised."""
    gray = np.asarray(gray, dtype=np.float32)
    return CameraClip(camera=camera, gray=standardise(gray), fg=np.clip(np.asarray(fg, np.float32), 0, 1),
                      full_size=tuple(full_size), low_light=low_light, meta={"source": source})


def load_truth(scene_dir: str | Path) -> dict:
    """The scene's truth.json (contract in ball3d.records), checked for what the detector needs."""
    path = Path(scene_dir) / "truth.json"
    try:
        truth = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path}: cannot read scene truth ({exc})") from exc
    for key in ("scene_id", "n_frames", "per_camera"):
        if key not in truth:
            raise PipelineError(f"{path}: missing key {key!r}")
    for cam, pc in truth["per_camera"].items():
        for key in ("video", "uv", "visible_fraction", "blur_px"):
            if key not in pc:
                raise PipelineError(f"{path}: camera {cam!r} lacks {key!r}")
        if len(pc["uv"]) != truth["n_frames"]:
            raise PipelineError(f"{path}: camera {cam!r} has {len(pc['uv'])} uv rows for {truth['n_frames']} frames")
    return truth


def load_scene_clips(scene_dir: str | Path, scale: float, cameras: list[str] | None = None,
                     fg_window: int = 15) -> tuple[dict, list[CameraClip]]:
    """Truth and one clip per camera of a rendered scene folder."""
    truth = load_truth(scene_dir)
    names = cameras or sorted(truth["per_camera"])
    clips = []
    for cam in names:
        pc = truth["per_camera"][cam]
        clips.append(load_clip(Path(scene_dir) / pc["video"], cam, scale, bool(pc.get("low_light", False)),
                               expected_frames=int(truth["n_frames"]), fg_window=fg_window))
    return truth, clips


def stack_input(clip: CameraClip, t: int, n_frames: int, use_fg: bool = True,
                window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Network input of frame t: frames t-n+1..t (clamped at 0) and fg(t) -> (C, h, w) float32.

    window = (x0, y0, x1, y1) crops in detector pixels.
    """
    idx = [max(0, t - k) for k in range(n_frames - 1, -1, -1)]
    ys = slice(None) if window is None else slice(window[1], window[3])
    xs = slice(None) if window is None else slice(window[0], window[2])
    chans = [clip.gray[i, ys, xs] for i in idx]
    if use_fg:
        chans.append(clip.fg[t, ys, xs])
    return np.stack(chans).astype(np.float32, copy=False)  # (C, h', w')
