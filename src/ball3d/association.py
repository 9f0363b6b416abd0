"""Cross-camera association: pick, per frame, the candidates that agree on one 3D point.

Per frame, every pair of candidates from two different cameras is a minimal hypothesis (a
two-view DLT). Each hypothesis is projected into all cameras and scored MSAC-style: the nearest
candidate of every camera contributes min(d^2, gate^2). The best hypothesis' inliers are
re-triangulated over all their views and the gate is applied once more. False detections and
occluded views are thus rejected rather than averaged in; a frame with fewer than
``min_views`` consistent cameras is reported missing with its reason, never invented.
All of it is vectorised over hypotheses so one frame costs well under a millisecond.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import numpy as np

from pipeutil.io import PipelineError

from .camera import Camera
from .triangulate import dlt, project, refine, undistort

log = logging.getLogger(__name__)


@dataclass
class AssocConfig:
    gate_px: float = 6.0  # reprojection gate, undistorted pixels
    min_views: int = 2  # fewer consistent cameras -> frame reported missing
    min_score: float = 0.05  # candidates below this detector score are ignored
    max_hypotheses: int = 600  # cap on candidate pairs tried per frame (highest score products first)
    first_chunk: int = 16  # pairs tried before the early exit test
    early_exit_views: int = 3  # that many agreeing views (or all cameras with candidates) end the search
    bounds_m: tuple = (-70.0, 70.0, -50.0, 50.0, 0.0, 40.0)  # plausible ball centre box xmin xmax ymin ymax zmin zmax
    jump_m: float = 1.0  # a fix this far from the midpoint of its neighbours is re-associated near that midpoint
    reassoc_gate_px: float = 40.0  # candidates kept around the midpoint's projection when re-associating
    # sequence association (ball3d.fusion.sequence); costs in units of one consistent camera
    # True: choose per frame among the top hypotheses by dynamic programming, track ransac_seq feeds the graph;
    # False: the per-frame association alone
    sequence: bool = True
    hypotheses_per_frame: int = 8  # distinct 3D hypotheses kept per frame
    score_weight: float = 0.5  # support bonus per inlier view per unit of detector score
    max_speed_ms: float = 40.0  # a faster step between two hypotheses is a jump, m/s (hardest shots ~35 m/s)
    speed_slack_m: float = 0.5  # triangulation error allowed on top of the speed limit, metres
    step_weight: float = 0.5  # cost of a step at the speed limit (quadratic in step / limit)
    jump_cost: float = 10.0  # cost of starting a track / switching beyond the speed limit (another object)
    missing_cost: float = 0.5  # cost of a frame left missing
    max_skip_frames: int = 10  # missing frames a track may cross without a jump (speed limit scaled)


@dataclass
class FrameFix:
    frame: int
    xyz: np.ndarray | None  # (3,) metres, None when missing
    cams: list[int] = field(default_factory=list)  # indices of supporting cameras
    uv: np.ndarray | None = None  # (n, 2) undistorted pixels of the accepted detections
    reproj_px: np.ndarray | None = None  # (n,) reprojection error of each accepted detection
    reason: str = ""  # why the frame is missing ("" when solved)


@dataclass
class Association:
    cam_names: list[str]
    P: np.ndarray  # (V, 3, 4) undistorted projection matrices
    cand: np.ndarray  # (T, V, K, 3) undistorted u, v, score; NaN padded
    fixes: list[FrameFix]
    meta: dict = field(default_factory=dict)  # method details (sequence association: hypotheses, rejections)

    def summary(self) -> dict:
        reasons: dict[str, int] = {}
        for f in self.fixes:
            if f.xyz is None:
                reasons[f.reason] = reasons.get(f.reason, 0) + 1
        solved = [f for f in self.fixes if f.xyz is not None]
        return {"frames": len(self.fixes), "solved": len(solved), "missing_by_reason": reasons,
                "mean_views": float(np.mean([len(f.cams) for f in solved])) if solved else 0.0, **self.meta}


def pad_candidates(cameras: list[Camera], candidates: dict[str, list], min_score: float = 0.0,
                   source: str = "detections") -> np.ndarray:
    """Contract layout {cam: [[[u, v, score], ...] per frame]} -> undistorted (T, V, K, 3), NaN padded."""
    names = [c.name for c in cameras]
    unknown = sorted(set(candidates) - set(names))
    if unknown:
        raise PipelineError(f"{source}: cameras {unknown} have no calibration (calibrated: {names})")
    lengths = {cam: len(frames) for cam, frames in candidates.items()}
    if len(set(lengths.values())) > 1:
        raise PipelineError(f"{source}: cameras disagree on the number of frames: {lengths}")
    n_frames = next(iter(lengths.values()), 0)
    if n_frames == 0:
        raise PipelineError(f"{source}: no frames in any camera")
    k_max = max([len(f) for frames in candidates.values() for f in frames] + [1])
    out = np.full((n_frames, len(cameras), k_max, 3), np.nan)
    for j, cam in enumerate(cameras):
        frames = candidates.get(cam.name)
        if frames is None or not any(len(f) for f in frames):
            log.warning("%s: camera %s has no detections at all; it supports no frame", source, cam.name)
            continue
        idx = [(i, k) for i, f in enumerate(frames) for k in range(len(f))]
        rows = np.array([frames[i][k] for i, k in idx], float).reshape(-1, 3)  # (N, 3)
        if rows.shape[1] != 3 or not np.all(np.isfinite(rows)):
            raise PipelineError(f"{source}: camera {cam.name}: candidates must be finite [u, v, score] triples")
        rows[:, :2] = undistort(cam, rows[:, :2])
        rows[rows[:, 2] < min_score] = np.nan
        fi, ki = np.array(idx).T
        out[fi, j, ki] = rows
    order = np.argsort(-out[..., 2], axis=2)  # best score first, NaN padding last
    return np.take_along_axis(out, order[..., None], axis=2)


@functools.lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


def _hypotheses(cand: np.ndarray, max_h: int) -> np.ndarray:
    """Pairs of valid candidates in different cameras, best score product first: (H, 2, 2) of (view, k)."""
    v, k = np.nonzero(np.isfinite(cand[:, :, 0]))  # (N,), (N,)
    if len(v) < 2:
        return np.zeros((0, 2, 2), int)
    a, b = _pairs(len(v))
    keep = v[a] != v[b]
    a, b = a[keep], b[keep]
    score = cand[v[a], k[a], 2] * cand[v[b], k[b], 2]
    order = np.argsort(-score, kind="stable")[:max_h]
    a, b = a[order], b[order]
    return np.stack([np.stack([v[a], k[a]], 1), np.stack([v[b], k[b]], 1)], 1)


def _nearest(P: np.ndarray, cand: np.ndarray, X: np.ndarray, bounds) -> tuple[np.ndarray, np.ndarray]:
    """Distance (M, V) from the projection of each X (M, 3) to the nearest candidate per camera, and its index."""
    uv, depth = project(P, X)  # (M, V, 2), (M, V)
    diff = uv[:, :, None, :] - cand[None, :, :, :2]  # (M, V, K, 2)
    d = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)  # (M, V, K)
    d[~np.isfinite(d)] = np.inf
    d[depth <= 0] = np.inf
    lo, hi = np.array(bounds[0::2]), np.array(bounds[1::2])
    outside = ~np.all((X >= lo) & (X <= hi), axis=1)  # (M,)
    d[outside] = np.inf
    return d.min(axis=2), d.argmin(axis=2)


def associate_frame(P: np.ndarray, cand: np.ndarray, frame: int, cfg: AssocConfig) -> FrameFix:
    """One frame: P (V, 3, 4), cand (V, K, 3) undistorted, NaN padded -> FrameFix."""
    hyp = _hypotheses(cand, cfg.max_hypotheses)  # (H, 2, 2)
    if len(hyp) == 0:
        n_cams = int(np.isfinite(cand[:, :, 0]).any(axis=1).sum())
        return FrameFix(frame, None, reason=f"detections in {n_cams} camera(s)")
    n_with = int(np.isfinite(cand[:, :, 0]).any(axis=1).sum())  # cameras with any candidate
    X, best_cost = None, np.inf
    for chunk in (hyp[:cfg.first_chunk], hyp[cfg.first_chunk:]):  # best-scored pairs first
        if len(chunk) == 0:
            break
        uv_h = cand[chunk[..., 0], chunk[..., 1], :2]  # (H, 2, 2)
        X_h = dlt(P[chunk[..., 0]], uv_h)  # (H, 3)
        X_h = np.where(np.isfinite(X_h), X_h, 1e9)
        d, _ = _nearest(P, cand, X_h, cfg.bounds_m)  # (H, V)
        cost = (np.minimum(d, cfg.gate_px) ** 2).sum(axis=1)  # (H,) MSAC cost
        best = int(np.argmin(cost))
        if cost[best] < best_cost:
            X, best_cost = X_h[best], cost[best]
        # stop early when every camera agrees, or when enough views agree that a coincidence of false
        # detections is implausible (the refit below collects every consistent camera anyway)
        if np.sum(d[best] < cfg.gate_px) >= min(n_with, cfg.early_exit_views):
            break
    return refit(P, cand, X, frame, cfg)


def refit(P: np.ndarray, cand: np.ndarray, X: np.ndarray, frame: int, cfg: AssocConfig) -> FrameFix:
    """Gather every camera's nearest candidate within the gate of X (3,), refine on them, repeat until stable."""
    views = None
    for _ in range(3):  # refit on all inliers, then re-gate with the refined point until stable
        d, k = _nearest(P, cand, X[None], cfg.bounds_m)
        new_views = np.nonzero(d[0] < cfg.gate_px)[0]
        if len(new_views) < cfg.min_views:
            return FrameFix(frame, None, reason=f"only {len(new_views)} consistent view(s)")
        if views is not None and np.array_equal(new_views, views):
            break
        views = new_views
        uv = cand[views, k[0, views], :2]  # (n, 2)
        X = refine(P[views], uv, X)
    proj, _ = project(P[views], X[None])
    err = np.linalg.norm(proj[0] - uv, axis=1)  # (n,)
    if np.any(err > cfg.gate_px):
        return FrameFix(frame, None, reason="refined point leaves the gate")
    return FrameFix(frame, X, cams=views.tolist(), uv=uv, reproj_px=err)


def too_few_cameras(cameras: list[Camera], cfg: AssocConfig, n_frames: int) -> list[FrameFix] | None:
    """Every frame missing with the reason when the scene has fewer cameras than ``min_views`` (else None)."""
    if len(cameras) >= cfg.min_views:
        return None
    reason = f"only {len(cameras)} camera(s): no 3D fix possible (association.min_views = {cfg.min_views})"
    log.warning("%s", reason)
    return [FrameFix(i, None, reason=reason) for i in range(n_frames)]


def associate(cameras: list[Camera], candidates: dict[str, list], cfg: AssocConfig,
              source: str = "detections") -> Association:
    """All frames of one sequence; candidates in the detections-file layout (distorted pixels)."""
    cand = pad_candidates(cameras, candidates, cfg.min_score, source)
    P = np.stack([c.P for c in cameras])  # (V, 3, 4)
    fixes = too_few_cameras(cameras, cfg, len(cand)) or [associate_frame(P, cand[i], i, cfg) for i in range(len(cand))]
    for _ in range(2):
        fixes = reassociate(P, cand, fixes, cfg)
    assoc = Association([c.name for c in cameras], P, cand, fixes)
    log.info("association: %s", assoc.summary())
    return assoc


def reassociate(P: np.ndarray, cand: np.ndarray, fixes: list[FrameFix], cfg: AssocConfig) -> list[FrameFix]:
    """Temporal check: a fix (or a gap) that jumps away from the midpoint of its two neighbours is
    associated again among the candidates near the midpoint's projection (static look-alikes such as
    pitch marks or posts can be consistent across two views; the ball's path is not)."""
    out = list(fixes)
    for i in range(1, len(fixes) - 1):
        a, b, f = fixes[i - 1].xyz, fixes[i + 1].xyz, fixes[i]
        if a is None or b is None or np.linalg.norm(a - b) > 2 * cfg.jump_m:
            continue
        mid = (a + b) / 2
        if f.xyz is not None and np.linalg.norm(f.xyz - mid) < cfg.jump_m:
            continue
        uv, _ = project(P, mid[None])  # (1, V, 2)
        near = np.linalg.norm(cand[i, :, :, :2] - uv[0][:, None, :], axis=-1) < cfg.reassoc_gate_px  # (V, K)
        new = associate_frame(P, np.where(near[..., None], cand[i], np.nan), i, cfg)
        if new.xyz is not None and np.linalg.norm(new.xyz - mid) < cfg.jump_m:
            out[i] = new
    return out
