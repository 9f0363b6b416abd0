"""Batch 3D solve of one sequence with GTSAM: projection factors + ballistic prior (+ cameras).

Graph per sequence:
  * one robust projection factor per accepted detection (association.py), pixel sigma in px;
  * (smoothed mode) a ballistic CustomFactor over every three consecutive frames; after a first
    solve, the factors whose whitened residual exceeds ``break_sigma`` (bounces, kicks) are
    removed and the graph is solved again; frames without a 2-view fix inside short gaps are
    bridged by the prior and flagged ``interpolated``; single-view detections near the
    predicted ball are added to them;
  * (optional) camera poses and intrinsics as unknowns with priors from calibration
    (GeneralSFMFactor2, i.e. true bundle adjustment).
Output: a Track3D with per-frame covariance from Marginals, supporting cameras and residuals.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import gtsam
import numpy as np

from ball3d.association import Association
from ball3d.camera import Camera
from ball3d.constants import BALL_RADIUS_M, GRAVITY_MPS2
from ball3d.triangulate import project

from .factors import (
    C,
    K,
    X,
    ballistic_factor,
    cal_of,
    camera_priors,
    motion_residual,
    pixel_noise,
    pose_of,
    projection_factor,
)
from .graph_output import BundleResult, assemble
from .skew import correct, estimate_skews

log = logging.getLogger(__name__)


@dataclass
class BundleConfig:
    pixel_sigma_px: float = 1.0  # detection noise, undistorted pixels
    robust: str = "huber"  # M-estimator on projection and motion factors: huber | cauchy | none
    robust_k: float = 1.345  # M-estimator threshold, whitened units (sigmas)
    motion_prior: bool = True  # ballistic prior between consecutive frames (smoothed graph)
    accel_sigma_mps2: float = 1.0  # unmodelled acceleration (spin, wind, model error), m/s^2
    gravity_mps2: float = GRAVITY_MPS2  # m/s^2
    drag_per_m: float = 0.013  # quadratic drag k in a = -k |v| v, 1/m (0.5 rho Cd A / m = 0.013 for a size-5 ball)
    ball_radius_m: float = BALL_RADIUS_M  # ball radius, metres
    ground_tol_m: float = 0.05  # a triple whose centres all lie below radius + this rolls: no gravity term
    ground_sigma_m: float = 0.02  # a rolling ball's centre is this close to radius height, metres
    rolling_decel_mps2: float = 0.6  # rolling resistance on grass, m/s^2
    break_sigma: float = 8.0  # whitened motion residual above which the prior is broken there
    max_gap_frames: int = 5  # longest run of frames without a 2-view fix bridged by the prior
    gap_gate_px: float = 8.0  # single-view detections this close to the prediction join gap frames
    weak_prior_sigma_m: float = 30.0  # keeps bridged frames determined if the prior breaks, metres
    max_std_m: float = 0.5  # bridged frames with a larger marginal std are reported missing
    refine_cameras: bool = False  # joint camera refinement (bundle adjustment)
    pose_rot_sigma_deg: float = 0.03  # camera rotation prior, degrees (calibrate phase: 0.02-0.04 deg)
    pose_pos_sigma_m: float = 0.03  # camera position prior, metres (calibrate phase: 2-4 cm)
    calib_sigma_px: float = 1.0  # intrinsics prior, pixels
    max_iterations: int = 100  # Levenberg-Marquardt iterations of the final solve
    first_pass_iterations: int = 15  # iterations of the pass that finds bounces / kicks
    first_pass_sigma_scale: float = 3.0  # that pass uses a looser prior (accel sigma times this)
    max_passes: int = 3  # solves with the final prior; stops early once the set of breaks is stable
    estimate_skew: bool = False  # estimate and correct a clock skew per camera (camera 0 = reference)
    max_skew_s: float = 0.05  # bound of the estimated skews, seconds


def solve_problem(cameras: list[Camera], problem: dict, cfg: BundleConfig, dt: float):
    """Re-run the final solve of ``BundleResult.problem`` (used by the GTSAM vs scipy benchmark)."""
    p = problem
    graph, values = _build(cameras, p["frames"], p["obs"], p["init"], cfg, dt, p["broken"], p["fixed"],
                           cfg.accel_sigma_mps2)
    result, _, _ = _optimize(graph, values, cfg.max_iterations)
    return np.array([result.atPoint3(X(int(i))) for i in p["frames"]])


def segments(fixed: np.ndarray, max_gap: int) -> list[np.ndarray]:
    """Runs of frames [first fix .. last fix] whose gaps without a fix are <= max_gap frames."""
    idx = np.nonzero(fixed)[0]
    if len(idx) == 0:
        return []
    cuts = np.nonzero(np.diff(idx) > max_gap + 1)[0]
    starts = np.r_[idx[0], idx[cuts + 1]]
    ends = np.r_[idx[cuts], idx[-1]]
    return [np.arange(s, e + 1) for s, e in zip(starts, ends)]


def _observations(assoc: Association) -> dict[int, list[tuple[int, np.ndarray]]]:
    return {f.frame: list(zip(f.cams, f.uv)) for f in assoc.fixes if f.xyz is not None}


def _initial(assoc: Association, frames: np.ndarray) -> dict[int, np.ndarray]:
    """Triangulated fixes, linearly interpolated over gaps."""
    known = np.array([f.frame for f in assoc.fixes if f.xyz is not None and f.frame in set(frames)])
    xyz = np.array([assoc.fixes[i].xyz for i in known])  # (n, 3)
    interp = np.stack([np.interp(frames, known, xyz[:, a]) for a in range(3)], axis=1)  # (len(frames), 3)
    return {int(i): interp[n] for n, i in enumerate(frames)}


def _build(cameras, frames, obs, init, cfg: BundleConfig, dt: float, broken: set, fixed: set,
           accel_sigma: float):
    graph, values = gtsam.NonlinearFactorGraph(), gtsam.Values()
    noise = pixel_noise(cfg.pixel_sigma_px, cfg.robust, cfg.robust_k)
    for i in frames:
        values.insert(X(int(i)), init[int(i)])
        for j, uv in obs.get(int(i), []):
            graph.add(projection_factor(cameras[j], j, int(i), uv, noise, cfg.refine_cameras))
        if int(i) not in fixed:
            # weak prior: keeps a bridged frame determined if the motion prior breaks next to it;
            # such a frame then shows a large marginal std and is reported missing
            graph.add(gtsam.PriorFactorPoint3(X(int(i)), init[int(i)],
                                              gtsam.noiseModel.Isotropic.Sigma(3, cfg.weak_prior_sigma_m)))
    if cfg.motion_prior:
        # ground_sigma_m: height of a rolling ball above radius, metres; x and y stay free (1 km)
        ground = gtsam.noiseModel.Diagonal.Sigmas(np.array([1e3, 1e3, cfg.ground_sigma_m]))
        for i in frames:
            if rolling(init, int(i), cfg):
                graph.add(gtsam.PriorFactorPoint3(X(int(i)), np.r_[0.0, 0.0, cfg.ball_radius_m], ground))
        for i in frames[1:-1]:
            if int(i) not in broken and int(i) - 1 in init and int(i) + 1 in init:
                g, roll = motion_terms(init, int(i), cfg)
                graph.add(ballistic_factor(int(i) - 1, int(i), int(i) + 1, dt, accel_sigma, g, cfg.drag_per_m,
                                           cfg.robust, cfg.robust_k, roll))
    if cfg.refine_cameras:
        for j, cam in enumerate(cameras):
            values.insert(C(j), pose_of(cam))
            values.insert(K(j), cal_of(cam))
            for f in camera_priors(cam, j, np.deg2rad(cfg.pose_rot_sigma_deg), cfg.pose_pos_sigma_m,
                                   cfg.calib_sigma_px):
                graph.add(f)
    return graph, values


def rolling(xyz: dict, i: int, cfg: BundleConfig) -> bool:
    """The ball rolls at frame i: it and its neighbours (those present) are within ground_tol of the ground."""
    return all(xyz[k][2] < cfg.ball_radius_m + cfg.ground_tol_m for k in (i - 1, i, i + 1) if k in xyz)


def motion_terms(xyz: dict, i: int, cfg: BundleConfig) -> tuple[float, float]:
    """(gravity, rolling resistance) of the factor centred on frame i: in flight (g, 0), rolling (0, decel)."""
    return (0.0, cfg.rolling_decel_mps2) if rolling(xyz, i, cfg) else (cfg.gravity_mps2, 0.0)


def _optimize(graph, values, max_iterations: int) -> tuple[gtsam.Values, float, float]:
    params = gtsam.LevenbergMarquardtParams()
    params.setMaxIterations(max_iterations)
    before = graph.error(values)
    result = gtsam.LevenbergMarquardtOptimizer(graph, values, params).optimize()
    after = graph.error(result)
    log.info("graph with %d factors: error %.4g before, %.4g after optimisation", graph.size(), before, after)
    return result, before, after


def _find_breaks(result, middles, cfg: BundleConfig, dt: float) -> set:
    """Middle frames whose ballistic residual (whitened) exceeds break_sigma: bounces, kicks."""
    sigma = cfg.accel_sigma_mps2 * dt * dt
    out = set()
    for i in middles:
        xyz = {int(k): result.atPoint3(X(int(k))) for k in (i - 1, i, i + 1)}
        e, _, _ = motion_residual(xyz[i - 1], xyz[i], xyz[i + 1], dt, *motion_terms(xyz, int(i), cfg)[:1],
                                  cfg.drag_per_m, motion_terms(xyz, int(i), cfg)[1])
        if np.linalg.norm(e) / sigma > cfg.break_sigma:
            out.add(int(i))
    return out


def _gap_observations(assoc: Association, result, frames, fixed: set, gate: float) -> dict:
    """Single-view detections in frames without a fix that lie near the solved ball's projection."""
    extra = {}
    for i in frames:
        if int(i) in fixed:
            continue
        uv, depth = project(assoc.P, result.atPoint3(X(int(i)))[None])  # (1, V, 2)
        d = np.linalg.norm(assoc.cand[int(i), :, :, :2] - uv[0][:, None, :], axis=-1)  # (V, K)
        d = np.where(np.isfinite(d), d, np.inf)
        rows = [(j, assoc.cand[int(i), j, int(np.argmin(d[j])), :2]) for j in range(len(d))
                if depth[0, j] > 0 and d[j].min() < gate]
        if rows:
            extra[int(i)] = rows
    return extra


def solve(cameras: list[Camera], assoc: Association, cfg: BundleConfig, fps: float) -> BundleResult:
    """Batch solve of one sequence (see module docstring)."""
    dt = 1.0 / fps
    fixed_mask = np.array([f.xyz is not None for f in assoc.fixes])
    fixed = set(np.nonzero(fixed_mask)[0].tolist())
    segs = segments(fixed_mask, cfg.max_gap_frames) if cfg.motion_prior else [np.nonzero(fixed_mask)[0]]
    frames = np.concatenate(segs) if segs else np.array([], int)
    if len(frames) == 0:  # no frame has a 2-view fix: an empty track whose missing frames carry the reasons
        return assemble(cameras, assoc, cfg, None, np.array([], int), {}, set(), 0.0, 0.0, fixed)
    frames = frames.astype(int)
    obs, init = _observations(assoc), _initial(assoc, frames)
    if not cfg.motion_prior:
        graph, values = _build(cameras, frames, obs, init, cfg, dt, set(), fixed, 0.0)
        result, before, after = _optimize(graph, values, cfg.max_iterations)
        out = assemble(cameras, assoc, cfg, (graph, result), frames, obs, set(), before, after, fixed)
        out.problem = {"frames": frames, "obs": obs, "init": init, "broken": set(), "fixed": fixed}
        return out
    # pass 0: a looser prior that converges fast, only to expose bounces / kicks and to start pass 1
    graph, values = _build(cameras, frames, obs, init, cfg, dt, set(), fixed,
                           cfg.accel_sigma_mps2 * cfg.first_pass_sigma_scale)
    result, before, after = _optimize(graph, values, cfg.first_pass_iterations)
    broken: set = set()
    for k in range(cfg.max_passes):
        new = broken | _find_breaks(result, _contiguous_triples(frames), cfg, dt)
        if new == broken and k > 0:
            break
        broken = new
        extra = _gap_observations(assoc, result, frames, fixed, cfg.gap_gate_px)
        obs = {**_observations(assoc), **extra}
        init = {int(i): result.atPoint3(X(int(i))) for i in frames}
        log.info("motion prior broken at frames %s; %d gap frames gained single-view detections",
                 sorted(broken), len(extra))
        graph, values = _build(cameras, frames, obs, init, cfg, dt, broken, fixed, cfg.accel_sigma_mps2)
        result, _, after = _optimize(graph, values, cfg.max_iterations)
    skews = None
    if cfg.estimate_skew:
        graph, result, obs, init, skews = _skew_passes(cameras, assoc.P, cfg, frames, obs, result, broken, fixed, dt)
        after = graph.error(result)
    out = assemble(cameras, assoc, cfg, (graph, result), frames, obs, broken, before, after, fixed)
    out.problem = {"frames": frames, "obs": obs, "init": init, "broken": broken, "fixed": fixed}
    if skews is not None:
        out.track.meta["skew_s"] = {c.name: float(s) for c, s in zip(cameras, skews)}
    return out


def _skew_passes(cameras, P, cfg: BundleConfig, frames, obs, result, broken, fixed, dt):
    """Estimate per-camera clock skew from the residuals, correct the detections, solve again (twice)."""
    total = np.zeros(len(cameras))
    raw = obs
    for _ in range(2):
        xyz = {int(i): result.atPoint3(X(int(i))) for i in frames}
        total += estimate_skews(P, obs, xyz, 1.0 / dt, cfg.max_skew_s)
        total = np.clip(total - total[0], -cfg.max_skew_s, cfg.max_skew_s)
        obs = correct(P, raw, xyz, 1.0 / dt, total)
        graph, values = _build(cameras, frames, obs, xyz, cfg, dt, broken, fixed, cfg.accel_sigma_mps2)
        result, _, _ = _optimize(graph, values, cfg.max_iterations)
    log.info("estimated clock skew per camera (s): %s", np.round(total, 4).tolist())
    return graph, result, obs, xyz, total


def _contiguous_triples(frames: np.ndarray) -> np.ndarray:
    """Middle frames i with i-1 and i+1 also present."""
    s = set(frames.tolist())
    return np.array([i for i in frames if i - 1 in s and i + 1 in s], dtype=int)
