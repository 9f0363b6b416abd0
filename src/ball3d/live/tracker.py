"""The live tracker: per frame set pre-process, roi3d detection, association, fixed-lag smoother update.

Parts reused, not re-implemented: ``ball3d.preprocess.phase.Preprocessor`` (the Numba chain, CUDA
when present: causal, one frame at a time, as the preprocess phase runs it), the frame-synchronous
roi3d loop ``ball3d.detection.roi3d.Roi3DLoop`` (ROIs around the projection of the predicted 3D
position, full frames on re-acquisition, the lost-track monitor), and the fixed-lag smoother
``ball3d.fusion.streaming.FixedLagStream``. Each camera's detector frames live in a ring of the last
frames the network stacks (``Ring``), so memory does not grow with the length of the match.

With no frame dropped, the track is the batch path's (``batch_track``: the same loop over the
pre-processed clips, then the smoother over the reported fixes): a test checks it bit for bit.
Only checkpoints trained on input ``preprocess`` are accepted: the ``video`` input's background is
the median of frames spread over the whole clip, which a live stream does not have yet.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from ball3d.association import AssocConfig, Association, FrameFix
from ball3d.camera import Camera
from ball3d.constants import BALL_RADIUS_M
from ball3d.detection.infer import DetectParams
from ball3d.detection.inputs import CameraClip, Lens, det_shape, fit_prep, grey, standardise, standardise_color
from ball3d.detection.network import HeatmapNet
from ball3d.detection.roi3d import FrameStep, Roi3DLoop, detect_scene_roi3d
from ball3d.fusion.graph import BundleConfig
from ball3d.fusion.streaming import FixedLagStream, stream
from ball3d.preprocess.phase import Preprocessor
from ball3d.records import Track3D
from pipeutil.io import PipelineError

log = logging.getLogger(__name__)
STAGES = ("decode", "queue", "preprocess", "detect", "associate", "smoother", "total")  # latency_ms keys


class Ring:
    """The last ``n`` frames of one stream, indexed by frame number like a (T, ...) array: ``ring[i, ...]``
    is frame i, or when i was dropped or has left the ring the nearest kept frame before it (the oldest
    kept one for earlier i). What ``stack_input`` reads from a CameraClip."""

    def __init__(self, n: int, shape: tuple, dtype):
        self.buf = np.zeros((n, *shape), dtype)  # (n, ...) slots
        self.frame = np.full(n, -1, np.int64)  # frame held by each slot
        self.count = 0
        self.ndim = 1 + len(shape)

    @property
    def shape(self) -> tuple:
        return (self.count, *self.buf.shape[1:])

    def push(self, i: int, a: np.ndarray) -> None:
        k = self.count % len(self.buf)
        self.buf[k], self.frame[k] = a, i
        self.count += 1

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        held = np.where(self.frame >= 0, self.frame, np.iinfo(np.int64).max)
        before = np.where(held <= key[0], held, -1)
        k = int(np.argmax(before)) if before.max() >= 0 else int(np.argmin(held))
        return self.buf[(k, *key[1:])]


@dataclass
class Camera2Det:
    """One camera's path from a decoded frame to its detector inputs (pre-processing, resampling)."""
    cam: Camera
    pre: Preprocessor
    clip: CameraClip
    size: tuple[int, int]  # detector (w, h)
    color: bool

    def push(self, i: int, frame: np.ndarray) -> None:
        img, mask = self.pre(frame)  # (h, w, 3), (h, w) uint8
        imgs, fg, _ = fit_prep(img[None], mask[None], self.pre.K_out, self.size)
        self.clip.gray.push(i, standardise(grey(imgs))[0])
        self.clip.fg.push(i, np.clip(fg[0].astype(np.float32), 0, 1))
        if self.color:
            self.clip.color.push(i, standardise_color(imgs)[0])


def camera_path(cam: Camera, pre_cfg: dict, model: HeatmapNet, use_gpu: bool) -> Camera2Det:
    pre = Preprocessor(cam, pre_cfg, use_gpu)
    size = det_shape((cam.width, cam.height), model.cfg.scale)
    h_out, w_out = pre.mapx.shape
    _, _, K_det = fit_prep(np.zeros((1, h_out, w_out, 3), np.uint8), np.zeros((1, h_out, w_out), np.uint8),
                           pre.K_out, size)
    n = max(2, model.cfg.n_frames)
    w, h = size
    clip = CameraClip(cam.name, Ring(n, (h, w), np.float32), Ring(n, (h, w), np.float32), (cam.width, cam.height),
                      lens=Lens(K_det, cam.K, cam.dist),
                      color=Ring(n, (3, h, w), np.float16) if model.cfg.color else None)
    return Camera2Det(cam, pre, clip, size, model.cfg.color)


def reported(step: FrameStep) -> FrameFix:
    """The fix the smoother gets: the frame's fix when the monitor lets it be reported, else missing."""
    if step.fix.xyz is not None and not step.verdict.report:
        return FrameFix(step.frame, None, reason=f"monitor {step.verdict.state}: {step.verdict.reason}")
    return step.fix


def _rounded(a, nd: int = 6):
    return None if a is None else np.round(np.asarray(a, float), nd).tolist()


class LiveTracker:
    """Frame sets in (``process``), one record per set out. Construct once per match."""

    def __init__(self, model: HeatmapNet, cams: list[Camera], dp: DetectParams, acfg: AssocConfig,
                 gcfg: BundleConfig, pre_cfg: dict, fps: float, lag_frames: int, innovation_gate_m: float,
                 use_gpu: bool = False, covariance: bool = True, ball_radius_m: float = BALL_RADIUS_M):
        if dp.mode != "roi3d":
            raise PipelineError(f"live: detect.mode must be 'roi3d' (ROIs from the 3D track), got {dp.mode!r}")
        self.cams, self.fps, self.covariance = cams, fps, covariance
        self.paths = [camera_path(c, pre_cfg, model, use_gpu) for c in cams]
        self.loop = Roi3DLoop(model, [p.clip for p in self.paths], cams, dp, fps, acfg, ball_radius_m, keep=False)
        self.smoother = FixedLagStream(cams, self.loop.P, gcfg, fps, lag_frames, innovation_gate_m)

    def process(self, t: int, images: list[np.ndarray], capture_s: float) -> tuple[dict, dict]:
        """Frame set t (one BGR image per camera, in camera order): the record and its latencies (ms)."""
        lat = {}
        t0 = time.perf_counter()
        for path, img in zip(self.paths, images):
            path.push(t, img)
        lat["preprocess"] = time.perf_counter() - t0
        step = self.loop.step(t)
        lat["detect"], lat["associate"] = step.detect_s, step.assoc_s
        t0 = time.perf_counter()
        fix = reported(step)
        xyz, done = self.smoother.update(t, fix, step.cand)
        cov = self.smoother.covariance(t) if self.covariance and xyz is not None else None
        lat["smoother"] = time.perf_counter() - t0
        st = self.smoother.st
        rec = {"type": "frame", "frame": t, "capture_s": round(capture_s, 6), "xyz": _rounded(xyz),
               "missing": None, "cov": _rounded(cov, 9), "views": st.support.get(t, []) if xyz is not None else [],
               "fix_views": [self.cams[j].name for j in fix.cams] if fix.xyz is not None else [],
               "state": step.verdict.state,
               "detections": {c.name: [[round(float(v), 2) for v in row] for row in st_rows]
                              for c, st_rows in zip(self.cams, step.rows)},
               "final": [{"frame": k, "xyz": _rounded(st.out_lagged[k])} for k in done if k in st.out_lagged]}
        if step.retract:  # a hover loss: these earlier frames' fixes were on a hovering look-alike (a head)
            rec["retracted"] = sorted(int(f) for f in step.retract)
        if xyz is None:
            rec["missing"] = fix.reason or "no 2-view fix and no ballistic prediction"
        elif fix.xyz is None:
            rec["missing"] = None
            rec["bridged"] = fix.reason  # no 2-view fix: single views near the ballistic prediction
        return rec, lat

    def tracks(self) -> tuple[Track3D, Track3D]:
        """(live_filtered, live_fixed_lag): the estimate when each frame arrived, and when it left the window."""
        a, b = self.smoother.tracks()
        return replace(a, method="live_filtered"), replace(b, method="live_fixed_lag")


def batch_track(model: HeatmapNet, clips: list[CameraClip], cams: list[Camera], dp: DetectParams,
                acfg: AssocConfig, gcfg: BundleConfig, fps: float, lag_frames: int,
                innovation_gate_m: float, ball_radius_m: float = BALL_RADIUS_M) -> tuple[Track3D, Track3D]:
    """The batch streaming path on whole clips (the reference of the live tracker): roi3d over the
    clips, the fixes the monitor reports, then the fixed-lag smoother over the sequence."""
    steps: list[FrameStep] = []
    detect_scene_roi3d(model, clips, cams, dp, fps, acfg, ball_radius_m, steps=steps)
    P = np.stack([c.P for c in cams])
    k = max(s.cand.shape[1] for s in steps)
    cand = np.full((len(steps), len(cams), k, 3), np.nan)  # (T, V, K, 3) NaN padded
    for i, s in enumerate(steps):
        cand[i, :, :s.cand.shape[1]] = s.cand
    assoc = Association([c.name for c in cams], P, cand, [reported(s) for s in steps])
    return stream(cams, assoc, gcfg, fps, lag_frames, innovation_gate_m)
