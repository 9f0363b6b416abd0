"""Video files: atomic writing (MJPG in AVI, readable by any OpenCV build) and checked reading.

Reading is strict: a file that cannot be opened, has no frames, or yields fewer frames than its
header announces (a truncated file) raises PipelineError naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from pipeutil.io import PipelineError, atomic_path


@dataclass(frozen=True)
class VideoInfo:
    path: str
    n_frames: int  # as announced by the container header
    fps: float
    width: int
    height: int


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, quality: int = 95) -> int:
    """Write BGR uint8 frames to ``path`` (MJPG/AVI) atomically; returns the frame count."""
    n = 0
    with atomic_path(path) as tmp:
        writer = None
        try:
            for frame in frames:
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), float(fps), (w, h))
                    if not writer.isOpened():
                        raise PipelineError(f"{path}: OpenCV cannot open an MJPG/AVI writer")
                    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, quality)
                writer.write(frame)
                n += 1
        finally:
            if writer is not None:
                writer.release()
        if n == 0:
            raise PipelineError(f"{path}: no frames to write")
    return n


def probe_video(path: str | Path) -> VideoInfo:
    """Header information of a video; PipelineError if it cannot be opened."""
    if not Path(path).is_file():
        raise PipelineError(f"{path}: video file not found")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise PipelineError(f"{path}: cannot open video (unreadable or not a video container)")
        info = VideoInfo(str(path), int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS)),
                         int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        cap.release()
    if info.width <= 0 or info.height <= 0:
        raise PipelineError(f"{path}: video has no readable frames")
    return info


def iter_frames(path: str | Path, every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, BGR frame) for every ``every``-th frame; checks that the file is complete."""
    info = probe_video(path)
    cap = cv2.VideoCapture(str(path))
    i = 0
    try:
        while True:
            ok = cap.grab()
            if not ok:
                break
            if i % every == 0:
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    raise PipelineError(f"{path}: frame {i} cannot be decoded (corrupt video)")
                yield i, frame
            i += 1
    finally:
        cap.release()
    if i == 0:
        raise PipelineError(f"{path}: video has no readable frames")
    if info.n_frames > 0 and i < info.n_frames:
        raise PipelineError(f"{path}: truncated video: header announces {info.n_frames} frames, only {i} readable")


def read_video(path: str | Path) -> np.ndarray:
    """All frames (T, H, W, 3) uint8."""
    return np.stack([f for _, f in iter_frames(path)])


def check_consistent(infos: list[VideoInfo], what: str) -> None:
    """All videos of a scene must share frame count and frame rate (else PipelineError)."""
    counts = {i.path: i.n_frames for i in infos}
    rates = {i.path: round(i.fps, 3) for i in infos}
    if len(set(counts.values())) > 1:
        raise PipelineError(f"{what}: cameras have different frame counts: {counts}")
    if len(set(rates.values())) > 1:
        raise PipelineError(f"{what}: cameras have different frame rates: {rates}")
