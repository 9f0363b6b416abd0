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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ball3d.camera import Camera
from ball3d.videoio import iter_frames
from pipeutil.io import PipelineError


@dataclass
class Lens:
    """Detector image = ideal pinhole ``K_det`` (undistorted); full resolution = ``K`` with distortion ``dist``."""
    K_det: np.ndarray  # (3, 3) intrinsics of the undistorted detector image, detector px
    K: np.ndarray  # (3, 3) intrinsics of the full-resolution distorted video, px
    dist: np.ndarray  # (5,) OpenCV k1 k2 p1 p2 k3 of the video

    def to_full(self, uv: np.ndarray) -> np.ndarray:
        xy1 = np.c_[uv, np.ones(len(uv))] @ np.linalg.inv(self.K_det).T  # (N, 3) normalised rays
        out, _ = cv2.projectPoints(xy1.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), self.K, self.dist)
        return out.reshape(-1, 2)

    def to_det(self, uv: np.ndarray) -> np.ndarray:
        out = cv2.undistortPoints(np.asarray(uv, np.float64).reshape(-1, 1, 2), self.K, self.dist, P=self.K_det)
        return out.reshape(-1, 2)


@dataclass
class CameraClip:
    camera: str
    gray: np.ndarray  # (T, h, w) float32, standardised per frame (mean 0, std 1)
    fg: np.ndarray  # (T, h, w) float32 in [0, 1], foreground strength (or a 0/1 mask)
    full_size: tuple[int, int]  # (W, H) of the full-resolution video
    low_light: bool = False
    lens: Lens | None = None  # set when the detector frames are undistorted (preprocess phase)
    color: np.ndarray | None = None  # (T, 3, h, w) float16 BGR standardised per frame and channel, if asked
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
        """Detector pixels (N, 2) -> full-resolution distorted pixels (N, 2)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        if self.lens is not None:
            return self.lens.to_full(uv) if len(uv) else uv
        sx, sy = self.full_size[0] / self.det_size[0], self.full_size[1] / self.det_size[1]
        return np.stack([(uv[:, 0] + 0.5) * sx - 0.5, (uv[:, 1] + 0.5) * sy - 0.5], axis=1)

    def to_det(self, uv: np.ndarray) -> np.ndarray:
        """Full-resolution distorted pixels (N, 2) -> detector pixels (N, 2)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        if self.lens is not None:
            return self.lens.to_det(uv) if len(uv) else uv
        sx, sy = self.full_size[0] / self.det_size[0], self.full_size[1] / self.det_size[1]
        return np.stack([(uv[:, 0] + 0.5) / sx - 0.5, (uv[:, 1] + 0.5) / sy - 0.5], axis=1)


def det_shape(full_size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(w, h) of the detector frames for a full-resolution (W, H) and a scale factor."""
    return max(8, round(full_size[0] * scale)), max(8, round(full_size[1] * scale))


def read_video_small(path: str | Path, scale: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Every frame area-downscaled to ``scale``: BGR uint8 (T, h, w, 3) and the full (W, H).

    Unreadable or truncated video -> PipelineError (``videoio.iter_frames``)."""
    frames, full = [], None
    for _, img in iter_frames(path):
        img = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        full = full or (img.shape[1], img.shape[0])
        frames.append(cv2.resize(img, det_shape(full, scale), interpolation=cv2.INTER_AREA))
    return np.stack(frames), full  # (T, h, w, 3) uint8


def grey(frames: np.ndarray) -> np.ndarray:
    """BGR uint8 (T, h, w, 3) -> grey uint8 (T, h, w)."""
    return np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames])


def standardise_color(frames: np.ndarray) -> np.ndarray:
    """BGR uint8 (T, h, w, 3) -> float16 (T, 3, h, w), zero mean and unit std per frame and channel."""
    T, h, w, _ = frames.shape
    out = np.empty((T, 3, h, w), np.float16)
    tmp = np.empty((h, w), np.float32)  # one channel in float32: the same arithmetic, contiguous casts
    for t, f in enumerate(frames):
        mu, sd = cv2.meanStdDev(f)  # (3, 1) each
        scale = (1.0 / np.maximum(sd[:, 0], 1e-3)).astype(np.float32)
        mu32 = mu[:, 0].astype(np.float32)
        for c, ch in enumerate(cv2.split(f)):  # channel by channel: 3x less time than one strided transpose
            np.subtract(ch, mu32[c], out=tmp, dtype=np.float32)
            tmp *= scale[c]
            out[t, c] = tmp
    return out


def standardise(frames: np.ndarray) -> np.ndarray:
    """Per-frame zero mean, unit std: (T, h, w) -> float32 (T, h, w). Makes low-light frames comparable."""
    out = np.empty(frames.shape, np.float32)
    for t, f in enumerate(frames):
        mu, sd = cv2.meanStdDev(f if f.dtype in (np.uint8, np.float32) else f.astype(np.float32))
        np.subtract(f, np.float32(mu[0, 0]), out=out[t], casting="unsafe")
        out[t] *= np.float32(1.0 / max(float(sd[0, 0]), 1e-3))
    return out


def foreground(gray: np.ndarray, window: int = 15, alpha: float = 0.05) -> np.ndarray:
    """Foreground strength in [0, 1] from a selective running-average background (static cameras).

    gray: (T, h, w) standardised frames. The background starts as the median of ``window`` frames
    spread over the clip (moving objects vanish from it) and is then updated frame by frame with
    rate ``alpha`` where the pixel is not foreground. Foreground = |frame - background| / 3, clipped.
    """
    T = gray.shape[0]
    pick = np.unique(np.linspace(0, T - 1, min(T, window)).round().astype(int))
    bg = np.median(gray[pick], axis=0)  # (h, w)
    out = np.empty_like(gray)
    for t in range(T):
        diff = np.abs(gray[t] - bg)  # (h, w)
        out[t] = np.minimum(diff / 3.0, 1.0)
        still = diff < 0.5
        bg[still] += alpha * (gray[t][still] - bg[still])
    return out


def load_clip(video: str | Path, camera: str, scale: float, low_light: bool = False,
              expected_frames: int | None = None, fg_window: int = 15, color: bool = False) -> CameraClip:
    """Read one camera's video into a detector clip at ``scale`` of the full resolution."""
    small, full = read_video_small(video, scale)  # (T, h, w, 3)
    if expected_frames is not None and small.shape[0] != expected_frames:
        raise PipelineError(f"{video}: {small.shape[0]} frames, but the scene truth says {expected_frames}")
    gray = standardise(grey(small))
    return CameraClip(camera=camera, gray=gray, fg=foreground(gray, fg_window), full_size=full,
                      low_light=low_light, color=standardise_color(small) if color else None,
                      meta={"source": str(video), "scale": scale})


def load_prep_clip(npz: str | Path, cam: Camera, scale: float, low_light: bool = False,
                   expected_frames: int | None = None, color: bool = False) -> CameraClip:
    """A clip from the preprocess phase's <cam>.npz (undistorted, downscaled, tone-mapped, 0/1 foreground).

    ``cam`` is the calibrated camera the preprocess phase undistorted with; the clip maps detector
    pixels back to distorted full-resolution pixels through it. If ``scale`` asks for another size
    than the preprocessed one, frames and intrinsics are resampled.
    """
    try:
        with np.load(npz) as d:
            frames, fg, K_out = d["frames"], d["fg"], np.asarray(d["K_out"], np.float64)  # (T, h, w, 3), (T, h, w)
            name = str(d["camera"]) if "camera" in d else cam.name
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise PipelineError(f"{npz}: cannot read pre-processed frames ({exc})") from exc
    if name != cam.name:
        raise PipelineError(f"{npz}: holds camera {name!r} but the calibration file is for {cam.name!r}")
    if expected_frames is not None and len(frames) != expected_frames:
        raise PipelineError(f"{npz}: {len(frames)} frames, but the scene truth says {expected_frames}")
    frames, fg, K_out = fit_prep(frames, fg, K_out, det_shape((cam.width, cam.height), scale))
    return CameraClip(camera=cam.name, gray=standardise(grey(frames)), fg=np.clip(fg.astype(np.float32), 0, 1),
                      full_size=(cam.width, cam.height), low_light=low_light, lens=Lens(K_out, cam.K, cam.dist),
                      color=standardise_color(frames) if color else None, meta={"source": str(npz), "scale": scale})


def fit_prep(frames: np.ndarray, fg: np.ndarray, K_out: np.ndarray,
             size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-processed frames (T, h, w, 3), masks (T, h, w) and their K_out resampled to the detector's
    (w, h) when it differs (frame by frame: the live tracker calls it on one frame at a time)."""
    w, h = size
    if (w, h) == (frames.shape[2], frames.shape[1]):
        return frames, fg, K_out
    fx, fy = w / frames.shape[2], h / frames.shape[1]
    A = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1.0]])
    frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
    fg = np.stack([cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) for m in fg])
    return frames, fg, A @ K_out


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
    gt = truth.get("ground_truth", True)  # false: real footage, videos only (ball3d.real_scenes)
    for cam, pc in truth["per_camera"].items():
        for key in ("video", "uv", "visible_fraction", "blur_px") if gt else ("video",):
            if key not in pc:
                raise PipelineError(f"{path}: camera {cam!r} lacks {key!r}")
        if gt and len(pc["uv"]) != truth["n_frames"]:
            raise PipelineError(f"{path}: camera {cam!r} has {len(pc['uv'])} uv rows for {truth['n_frames']} frames")
    return truth


def load_scene_clips(scene_dir: str | Path, scale: float, prep_dir: str | Path | None = None,
                     calib_dir: str | Path | None = None, cameras: list[str] | None = None,
                     color: bool = False) -> tuple[dict, list[CameraClip]]:
    """Truth and one clip per camera of a scene (all in memory; see ``iter_scene_clips``)."""
    truth = load_truth(scene_dir)
    return truth, list(iter_scene_clips(scene_dir, truth, scale, prep_dir, calib_dir, cameras, color))


def iter_scene_clips(scene_dir: str | Path, truth: dict, scale: float, prep_dir: str | Path | None = None,
                     calib_dir: str | Path | None = None, cameras: list[str] | None = None, color: bool = False):
    """One clip per camera, loaded one at a time: from the preprocess phase's folder when ``prep_dir``
    is given (then ``calib_dir`` holds the calibrated <cam>.json used there), else from the videos."""
    n = int(truth["n_frames"])
    for cam in cameras or sorted(truth["per_camera"]):
        pc = truth["per_camera"][cam]
        low = bool(pc.get("low_light", False))
        if prep_dir is None:
            yield load_clip(Path(scene_dir) / pc["video"], cam, scale, low, expected_frames=n, color=color)
            continue
        if calib_dir is None:
            raise PipelineError(f"{prep_dir}: pre-processed frames need the calibrated cameras they were made with")
        calib = Camera.load(Path(calib_dir) / f"{cam}.json")
        if calib.name != cam:
            raise PipelineError(f"{calib_dir}/{cam}.json: describes camera {calib.name!r}, expected {cam!r}")
        yield load_prep_clip(Path(prep_dir) / f"{cam}.npz", calib, scale, low, expected_frames=n, color=color)


def stack_input(clip: CameraClip, t: int, n_frames: int, use_fg: bool = True,
                window: tuple[int, int, int, int] | None = None, color: bool = False) -> np.ndarray:
    """Network input of frame t: frames t-n+1..t (clamped at 0; grey, or 3 BGR channels each) and
    fg(t) -> (C, h, w) float32. window = (x0, y0, x1, y1) crops in detector pixels.
    """
    idx = [max(0, t - k) for k in range(n_frames - 1, -1, -1)]
    ys = slice(None) if window is None else slice(window[1], window[3])
    xs = slice(None) if window is None else slice(window[0], window[2])
    if color:
        if clip.color is None:
            raise PipelineError(f"camera {clip.camera!r}: the network wants colour frames but the clip is grey")
        chans = [c for i in idx for c in clip.color[i, :, ys, xs]]
    else:
        chans = [clip.gray[i, ys, xs] for i in idx]
    if use_fg:
        chans.append(clip.fg[t, ys, xs])
    return np.stack(chans).astype(np.float32, copy=False)  # (C, h', w')
