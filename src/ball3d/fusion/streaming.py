"""Streaming 3D solve: a GTSAM IncrementalFixedLagSmoother (iSAM2 inside) updated once per frame.

Each new frame brings its accepted detections (or, without a 2-view fix, the single-view
candidates nearest to the ballistic prediction) and a ballistic factor linking it to the two
previous frames; when the new fix disagrees with the prediction by more than ``break_sigma``
(a bounce or a kick) that factor is left out. Variables older than ``lag_frames`` are
marginalised out.

A jump has to be confirmed by the next frame: when frame i+1 agrees better with the old chain
continued through a bridged frame i (its fix within the innovation gate of that prediction, or, with
no fix, more single views near it than near the jumped chain's), the jump was a wrong fix (a
look-alike seen by two or three cameras, issue 16). Its projection factors are removed from the
smoother and frame i is bridged like a frame without a fix (ballistic factor, single views near the
prediction), so the fixed-lag value of frame i and the chain after it follow the ball; the track's
``meta.reverted`` names the frame and why. For every frame we keep the filtered estimate (available at once) and the
fixed-lag estimate (the value it had when it left the window).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import gtsam
import numpy as np

from ball3d.association import Association, FrameFix
from ball3d.camera import Camera
from ball3d.records import Track3D
from ball3d.triangulate import project

from .factors import X, ballistic_factor, pixel_noise, projection_factor
from .graph import BundleConfig

log = logging.getLogger(__name__)


@dataclass
class StreamState:
    prev: list  # [(frame, xyz)] of the last two frames in the chain
    out_filtered: dict
    out_lagged: dict
    support: dict
    update_ms: list
    gate_m: float  # innovation gate, metres
    n_frames: int = 0  # frames of the sequence
    skipped: set = field(default_factory=set)  # frames without information (no fix, no prediction)
    final: set = field(default_factory=set)  # frames that have left the window (fixed-lag value final)
    jump: _Jump | None = None  # the last frame whose fix jumped away from the prediction (to be confirmed)
    reverted: dict = field(default_factory=dict)  # frame -> why its jumped fix was replaced by the prediction


@dataclass
class _Jump:
    frame: int
    x_pred: np.ndarray  # (3,) prediction of the frame from the chain before it
    prev: list  # the chain before the frame
    cand: np.ndarray  # (V, K, 3) the frame's candidates
    factors: list  # smoother indices of the fix's projection factors
    dist_m: float  # distance of the fix from the prediction


def _terms(prev, cfg: BundleConfig) -> tuple[float, float]:
    """(gravity, rolling resistance) for a factor ending at the new frame, from the previous two frames."""
    rolling = all(x[2] < cfg.ball_radius_m + cfg.ground_tol_m for _, x in prev)
    return (0.0, cfg.rolling_decel_mps2) if rolling else (cfg.gravity_mps2, 0.0)


def _predict(prev, i: int, dt: float, cfg: BundleConfig) -> np.ndarray | None:
    """Ballistic prediction of frame i from frames i-1 and i-2 (None if they are not both there)."""
    if len(prev) < 2 or prev[-1][0] != i - 1 or prev[-2][0] != i - 2:
        return None
    v = (prev[-1][1] - prev[-2][1]) / dt
    g, roll = _terms(prev, cfg)
    speed = max(float(np.linalg.norm(v)), 1e-9)
    a = np.array([0.0, 0.0, -g]) - (cfg.drag_per_m * speed + roll / speed) * v
    return 2 * prev[-1][1] - prev[-2][1] + a * dt * dt


def _single_view(P: np.ndarray, cand: np.ndarray, x_pred: np.ndarray, gate: float) -> list:
    """(camera, (2,) px) of every camera's candidate nearest to the prediction, within ``gate`` px.
    cand: (V, K, 3) undistorted candidates of the frame."""
    uv, depth = project(P, x_pred[None])  # (1, V, 2)
    d = np.linalg.norm(cand[:, :, :2] - uv[0][:, None, :], axis=-1)  # (V, K)
    d = np.where(np.isfinite(d), d, np.inf)
    return [(j, cand[j, int(np.argmin(d[j])), :2]) for j in range(len(d))
            if depth[0, j] > 0 and d[j].min() < gate]


def _frame_update(smoother, cameras, P, fix: FrameFix, cand: np.ndarray, i: int, cfg: BundleConfig, dt: float,
                  st: StreamState, noise):
    """Add frame i to the smoother; return False when the frame is skipped (no information)."""
    x_pred = _predict(st.prev, i, dt, cfg)
    if fix.xyz is not None:
        rows, x0 = list(zip(fix.cams, fix.uv)), fix.xyz
    elif x_pred is not None:
        rows, x0 = _single_view(P, cand, x_pred, cfg.gap_gate_px), x_pred
    else:
        return False
    # innovation gate: a fix this far from the ballistic prediction means a bounce or a kick
    link = x_pred is not None and (fix.xyz is None or np.linalg.norm(fix.xyz - x_pred) < st.gate_m)
    if not rows and not link:
        return False
    graph, values = gtsam.NonlinearFactorGraph(), gtsam.Values()
    values.insert(X(i), np.asarray(x0, float))
    for j, uv in rows:
        graph.add(projection_factor(cameras[j], j, i, uv, noise, False))
    if link:
        g, roll = _terms(st.prev, cfg)
        graph.add(ballistic_factor(i - 2, i - 1, i, dt, cfg.accel_sigma_mps2, g, cfg.drag_per_m,
                                   cfg.robust, cfg.robust_k, roll))
    if len(rows) < 2:  # weak prior: a single view (or none) cannot pin a point without the chain
        graph.add(gtsam.PriorFactorPoint3(X(i), np.asarray(x0, float),
                                          gtsam.noiseModel.Isotropic.Sigma(3, cfg.weak_prior_sigma_m)))
    smoother.update(graph, values, {X(i): i * dt})
    if x_pred is not None and fix.xyz is not None and not link:  # a jump: confirmed or reverted at frame i + 1
        idx = list(smoother.getISAM2Result().getNewFactorsIndices())
        st.jump = _Jump(i, x_pred, list(st.prev), cand, idx[:len(rows)], float(np.linalg.norm(fix.xyz - x_pred)))
    st.support[i] = [cameras[j].name for j, _ in rows]
    return True


def _unconfirmed(P, jump: _Jump, st: StreamState, fix: FrameFix, cand: np.ndarray, i: int, cfg: BundleConfig,
                 dt: float) -> bool:
    """Does frame i agree better with the old chain (bridged through the jump frame) than with the jump?"""
    x_old = _predict(jump.prev[-1:] + [(jump.frame, jump.x_pred)], i, dt, cfg)
    x_new = _predict(st.prev, i, dt, cfg)
    if x_old is None:
        return False
    if fix.xyz is not None:
        d_old = float(np.linalg.norm(fix.xyz - x_old))
        d_new = float(np.linalg.norm(fix.xyz - x_new)) if x_new is not None else np.inf
        return d_old < st.gate_m and d_old < d_new
    n_new = len(_single_view(P, cand, x_new, cfg.gap_gate_px)) if x_new is not None else 0
    return len(_single_view(P, cand, x_old, cfg.gap_gate_px)) > n_new


class FixedLagStream:
    """The fixed-lag smoother fed one frame at a time: ``update(i, fix, cand)`` with the frame's
    cross-camera fix and its (V, K, 3) undistorted candidates; frame indices increase (a gap breaks
    the ballistic chain). The batch ``stream`` and the live tracker (ball3d.live) both drive it."""

    def __init__(self, cameras: list[Camera], P: np.ndarray, cfg: BundleConfig, fps: float, lag_frames: int = 10,
                 innovation_gate_m: float = 0.3):
        self.cameras, self.P, self.cfg, self.dt, self.lag_frames = cameras, P, cfg, 1.0 / fps, lag_frames
        self.smoother = gtsam.IncrementalFixedLagSmoother(lag_frames * self.dt, gtsam.ISAM2Params())
        self.noise = pixel_noise(cfg.pixel_sigma_px, cfg.robust, cfg.robust_k)
        self.st = StreamState([], {}, {}, {}, [], innovation_gate_m, 0)

    def update(self, i: int, fix: FrameFix, cand: np.ndarray) -> tuple[np.ndarray | None, list[int]]:
        """Add frame i: its filtered estimate (None when the frame carries no information) and the frames
        that left the window with this update (their fixed-lag value is final: ``self.st.out_lagged``)."""
        st = self.st
        st.n_frames = max(st.n_frames, i + 1)
        t0 = time.perf_counter()
        jump, st.jump = st.jump, None
        if jump is not None and jump.frame == i - 1 and _unconfirmed(self.P, jump, st, fix, cand, i, self.cfg, self.dt):
            self._revert(jump)
        if not _frame_update(self.smoother, self.cameras, self.P, fix, cand, i, self.cfg, self.dt, st, self.noise):
            st.prev = []
            st.skipped.add(i)
            return None, []
        est = self.smoother.calculateEstimate()
        st.update_ms.append((time.perf_counter() - t0) * 1e3)
        done = []
        for k in [k for k in st.out_filtered if k not in st.final]:
            if est.exists(X(k)):
                st.out_lagged[k] = est.atPoint3(X(k))  # keeps the latest value until it leaves the window
            else:
                st.final.add(k)
                done.append(k)
        st.out_filtered[i] = est.atPoint3(X(i))
        st.prev = (st.prev + [(i, st.out_filtered[i])])[-2:]
        return st.out_filtered[i], done

    def _revert(self, jump: _Jump) -> None:
        """Replace the jumped fix of frame ``jump.frame`` by a bridge from the chain before it."""
        i, cfg, st = jump.frame, self.cfg, self.st
        rows = _single_view(self.P, jump.cand, jump.x_pred, cfg.gap_gate_px)
        graph = gtsam.NonlinearFactorGraph()
        for j, uv in rows:
            graph.add(projection_factor(self.cameras[j], j, i, uv, self.noise, False))
        est = self.smoother.calculateEstimate()
        if est.exists(X(i - 2)) and est.exists(X(i - 1)):
            g, roll = _terms(jump.prev, cfg)
            graph.add(ballistic_factor(i - 2, i - 1, i, self.dt, cfg.accel_sigma_mps2, g, cfg.drag_per_m,
                                       cfg.robust, cfg.robust_k, roll))
        if len(rows) < 2:
            graph.add(gtsam.PriorFactorPoint3(X(i), np.asarray(jump.x_pred, float),
                                              gtsam.noiseModel.Isotropic.Sigma(3, cfg.weak_prior_sigma_m)))
        self.smoother.update(graph, gtsam.Values(), {}, list(jump.factors))
        self.smoother.update()  # one more relinearisation: the estimate moves by the jump
        x_i = self.smoother.calculateEstimate().atPoint3(X(i))
        st.support[i] = [self.cameras[j].name for j, _ in rows]
        st.reverted[i] = (f"fix {jump.dist_m:.2f} m from the ballistic prediction not confirmed by frame {i + 1}: "
                          "bridged from the chain before it")
        st.prev = jump.prev[-1:] + [(i, x_i)]
        if i in st.out_lagged:
            st.out_lagged[i] = x_i
        log.debug("streaming: %s", st.reverted[i])

    def covariance(self, i: int) -> np.ndarray | None:
        """(3, 3) marginal covariance of frame i in m^2 while it is in the window (None otherwise)."""
        try:
            return np.asarray(self.smoother.marginalCovariance(X(i)))
        except RuntimeError:
            return None

    def tracks(self) -> tuple[Track3D, Track3D]:
        return _tracks(self.st, self.lag_frames)


def stream(cameras: list[Camera], assoc: Association, cfg: BundleConfig, fps: float,
           lag_frames: int = 10, innovation_gate_m: float = 0.3, timing: dict | None = None) -> tuple[Track3D, Track3D]:
    """Run the fixed-lag smoother over a sequence: returns (filtered, fixed-lag) tracks.

    ``innovation_gate_m``: a new 2-view fix farther than this (metres) from the ballistic
    prediction starts a new ballistic piece (bounce / kick) instead of being pulled back.
    ``timing``: when given, receives update_ms_mean / update_ms_p95 (wall clock: kept out of the tracks,
    which must be byte-identical from run to run).
    """
    fl = FixedLagStream(cameras, assoc.P, cfg, fps, lag_frames, innovation_gate_m)
    fl.st.n_frames = len(assoc.fixes)
    for i in range(len(assoc.fixes)):
        fl.update(i, assoc.fixes[i], assoc.cand[i])
    st = fl.st
    ms = {"update_ms_mean": float(np.mean(st.update_ms)) if st.update_ms else None,
          "update_ms_p95": float(np.percentile(st.update_ms, 95)) if st.update_ms else None}
    if timing is not None:
        timing.update(ms)
    log.info("streaming: %d frames, %.2f ms per update (mean)", len(st.out_filtered), ms["update_ms_mean"] or 0)
    return fl.tracks()


def _tracks(st: StreamState, lag_frames: int) -> tuple[Track3D, Track3D]:
    out = []
    for name, vals in (("streaming_filtered", st.out_filtered), ("streaming_fixed_lag", st.out_lagged)):
        frames = sorted(vals)
        missing = {str(i): "no 2-view fix and no ballistic prediction" if i in st.skipped
                   else "no update after it (end of the sequence)" for i in range(st.n_frames) if i not in vals}
        meta = {"lag_frames": lag_frames, "missing": missing}
        if st.reverted and name == "streaming_fixed_lag":
            meta["reverted"] = {str(k): v for k, v in sorted(st.reverted.items())}
        out.append(Track3D(frames, [np.asarray(vals[k]).tolist() for k in frames], None,
                           [st.support[k] for k in frames], name, meta))
    return out[0], out[1]
