"""Frame sources of the live tracker: one decoding thread per source, bounded queues, frame sets.

Every source (a video file, a device index, an RTSP/HTTP URL: whatever ``cv2.VideoCapture`` opens)
is opened and checked in the caller's thread (``open_sources``: it cannot be opened, reports no
frame size, or its frame rate differs from the others -> PipelineError naming the source), then
decoded by its own thread into a queue of at most ``queue_frames`` frames. Two policies:
- ``block`` (files, as fast as possible): a full queue makes the reader wait; nothing is dropped.
- ``drop`` (real time: devices, URLs, or files paced at their frame rate): a frame that finds the
  queue full is dropped and counted; memory never grows when the tracker falls behind.
``FrameSets`` takes one frame of every queue with the same index (a set); a source that is ahead
because another dropped a frame waits, the laggard's stale frames are dropped (and counted), so
every set holds one synchronised frame per camera.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeutil.io import PipelineError

log = logging.getLogger(__name__)


@dataclass
class Frame:
    index: int  # frame number in its source (0 = first frame read)
    image: np.ndarray  # (H, W, 3) BGR uint8
    grabbed: float  # time.perf_counter() when its decoding started, seconds
    decode_s: float  # seconds spent decoding it
    captured: float  # time.time() when its decoding started (capture time of a device or stream), seconds


@dataclass
class End:
    """Put in a queue when its source stops."""
    frames: int  # frames the source delivered
    reason: str  # "end of source" or the read error


@dataclass
class Source:
    name: str  # camera name
    spec: str  # what was opened: a path, a device index, a URL
    cap: cv2.VideoCapture
    fps: float
    size: tuple[int, int]  # (W, H)
    n_frames: int  # announced by the container (0 when unknown: devices, streams)
    is_file: bool
    q: queue.Queue = field(default_factory=queue.Queue)
    dropped: int = 0  # frames dropped by the reader (queue full)
    thread: threading.Thread | None = None


def _open_one(name: str, spec: str) -> Source:
    is_device = spec.isdigit()
    cap = cv2.VideoCapture(int(spec) if is_device else spec)
    if not cap.isOpened():
        cap.release()
        raise PipelineError(f"source {spec!r} (camera {name!r}): cannot be opened (not a readable video, device or stream)")
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    if size[0] <= 0 or size[1] <= 0:
        cap.release()
        raise PipelineError(f"source {spec!r} (camera {name!r}): reports no frame size (no readable frames)")
    is_file = not is_device and "://" not in spec
    return Source(name, spec, cap, fps, size, max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))) if is_file else 0, is_file)


def open_sources(specs: dict[str, str], fps: float | None = None) -> list[Source]:
    """Open every source (camera name -> spec) and check that they agree on the frame rate (``fps``
    given: every source that reports one must match it; sources reporting none take it)."""
    out: list[Source] = []
    try:
        for name, spec in specs.items():
            out.append(_open_one(name, spec))
        rates = {s.spec: round(s.fps, 3) for s in out if s.fps > 0}
        want = round(fps, 3) if fps else (next(iter(rates.values())) if rates else None)
        if want is None:
            raise PipelineError(f"sources {list(specs.values())}: none reports a frame rate; give --fps")
        bad = {k: v for k, v in rates.items() if v != want}
        if bad:
            raise PipelineError(f"sources have unequal frame rates {rates} (expected {want} Hz): the cameras are not "
                                "synchronised frame by frame; re-encode them at one rate")
        for s in out:
            s.fps = float(want)
    except Exception:
        for s in out:
            s.cap.release()
        raise
    return out


def _reader(src: Source, policy: str, pace: bool, t0: float, stop: threading.Event) -> None:
    i = 0
    reason = "end of source"
    try:
        while not stop.is_set():
            if pace:  # a file read as if it were a camera: frame i becomes available at t0 + i / fps
                wait = t0 + i / src.fps - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            g, wall = time.perf_counter(), time.time()
            ok, img = src.cap.read()
            if not ok or img is None:
                break
            fr = Frame(i, img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), g, time.perf_counter() - g, wall)
            i += 1
            if policy == "drop":
                try:
                    src.q.put_nowait(fr)
                except queue.Full:
                    src.dropped += 1
                continue
            while not stop.is_set():
                try:
                    src.q.put(fr, timeout=0.1)
                    break
                except queue.Full:
                    pass
    except cv2.error as exc:  # a broken stream
        reason = f"read error after {i} frames ({exc})"
    finally:
        src.cap.release()
        while True:  # the end marker always gets through (the consumer drains the queue)
            try:
                src.q.put(End(i, reason), timeout=0.1)
                break
            except queue.Full:
                if stop.is_set():
                    try:
                        src.q.get_nowait()
                    except queue.Empty:
                        pass


class FrameSets:
    """Synchronised frame sets from started reader threads; iterate to get lists of Frame (one per
    source, same index). Iteration stops when a source ends; ``end_reason`` then says why and
    ``dropped_sets`` counts the frame indices lost by drops."""

    def __init__(self, sources: list[Source], queue_frames: int, policy: str, pace: bool):
        if policy not in ("block", "drop"):
            raise PipelineError(f"live: unknown queue policy {policy!r} (block | drop)")
        self.sources, self.stop = sources, threading.Event()
        self.end_reason = ""  # why iteration stopped
        self.ended: dict[str, int] = {}  # sources that had stopped: frames each delivered
        self.dropped_sets = 0  # frame indices skipped between yielded sets (dropped by a reader)
        self.last = -1  # index of the last yielded set
        t0 = time.perf_counter()
        for s in sources:
            s.q = queue.Queue(maxsize=max(1, int(queue_frames)))
            s.thread = threading.Thread(target=_reader, args=(s, policy, pace, t0, self.stop), daemon=True,
                                        name=f"live-{s.name}")
        for s in sources:
            s.thread.start()
        self.heads: list = [None] * len(sources)

    def __iter__(self):
        while True:
            for k, s in enumerate(self.sources):
                if self.heads[k] is None:
                    self.heads[k] = s.q.get()
            ends = [(s, h) for s, h in zip(self.sources, self.heads) if isinstance(h, End)]
            if ends:
                self._finish(ends)
                return
            top = max(h.index for h in self.heads)
            if all(h.index == top for h in self.heads):
                self.dropped_sets += top - self.last - 1
                self.last = top
                yield list(self.heads)
                self.heads = [None] * len(self.sources)
                continue
            for k, h in enumerate(self.heads):
                if h.index < top:  # this camera's frame is older than another's: its set is incomplete
                    self.heads[k] = None

    def _finish(self, ends: list) -> None:
        self.ended = {s.name: e.frames for s, e in ends}
        counts = {s.name: e.frames for s, e in ends}
        if len(ends) == len(self.sources) and len(set(counts.values())) == 1:
            self.end_reason = f"end of every source after {next(iter(counts.values()))} frames"
        else:
            s, e = ends[0]
            self.end_reason = (f"source {s.spec!r} (camera {s.name!r}) stopped after {e.frames} frames ({e.reason}) "
                               "while other sources had frames left")

    def close(self, deadline_s: float = 5.0) -> list[str]:
        """Stop the readers and wait for them, ``deadline_s`` at most in all (they check the stop flag every
        0.1 s, but a read blocked inside the decoder, e.g. a stalled network stream, never returns to it).
        Returns the names of the sources whose reader was still alive at the deadline (daemon threads: they
        do not keep the process alive); a warning names them."""
        self.stop.set()
        end = time.monotonic() + deadline_s
        for s in self.sources:
            while s.thread is not None and s.thread.is_alive() and time.monotonic() < end:
                try:
                    s.q.get(timeout=0.05)
                except queue.Empty:
                    pass
            if s.thread is not None:
                s.thread.join(timeout=max(0.0, min(1.0, end - time.monotonic())))
        stuck = [s.name for s in self.sources if s.thread is not None and s.thread.is_alive()]
        if stuck:
            log.warning("live: reader(s) of %s still blocked %.1f s after close; left behind (daemon threads)",
                        ", ".join(stuck), deadline_s)
        return stuck

    @property
    def dropped(self) -> dict[str, int]:
        return {s.name: s.dropped for s in self.sources}
