"""Sequence-level association: top-N 3D hypotheses per frame, one chosen per frame by dynamic programming.

Per-frame MSAC (association.py) keeps only the best-scoring hypothesis of each frame, so a
look-alike that is consistent across two or three cameras (two players' heads, a line crossing)
wins every frame in which it out-scores a ball seen by few cameras, and the whole track locks
onto it. Here every frame keeps its ``hypotheses_per_frame`` best distinct 3D hypotheses and a
Viterbi pass over the sequence picks one hypothesis (or "missing") per frame.

Costs, in units of "one consistent camera" (docs/vision_3d.md, section Sequence association):
  unary(h)   = -sum over the inlier views of (1 - (d / gate)^2 + score_weight * score):
               every consistent camera earns up to 1 (less with a larger residual), plus a small
               bonus for the detector's confidence. Views are summed over time: the object that is
               consistent in more cameras over the sequence wins, not the one with the best frame.
  missing    = missing_cost per frame without a hypothesis (a frame with fewer than min_views
               consistent cameras has no hypothesis and is always missing: never invented).
  step(a, b) between hypotheses k frames apart (k - 1 missing frames between them, k <= 1 + max_skip_frames):
               |Xb - Xa| <= max_speed_ms * k * dt + speed_slack_m  ->  step_weight * (|Xb - Xa| / limit)^2
               beyond it                                          ->  jump_cost (a switch to another object)
  A track may also start anywhere after any labelling of the earlier frames at jump_cost (free
  when every earlier frame is missing). First order on purpose: a constant-velocity term cannot
  tell a static look-alike from the ball either; what tells them apart is the summed support.
The chosen path is then re-gated (``regate``): every camera's nearest candidate within the gate
of the chosen point joins, the point is refined on them and re-gated until stable, so views the
hypothesis missed come back; ``association.reassociate`` finally fills gaps and jumps near the
neighbours. The result is an ``Association`` like the per-frame one, so the graph consumes it as is.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ball3d.association import (
    AssocConfig,
    Association,
    FrameFix,
    _hypotheses,
    _nearest,
    pad_candidates,
    reassociate,
    refit,
    too_few_cameras,
)
from ball3d.camera import Camera
from ball3d.triangulate import dlt

log = logging.getLogger(__name__)


@dataclass
class FrameHyps:
    """The distinct 3D hypotheses of one frame, best (lowest unary) first."""

    xyz: np.ndarray  # (N, 3) metres
    kidx: np.ndarray  # (N, V) index of the inlier candidate per camera, -1 where the camera is an outlier
    err_px: np.ndarray  # (N, V) reprojection distance to that candidate, px (inf for outliers)
    unary: np.ndarray  # (N,) minus the support, in units of one consistent camera

    @staticmethod
    def empty(n_views: int) -> FrameHyps:
        return FrameHyps(np.zeros((0, 3)), np.zeros((0, n_views), int), np.zeros((0, n_views)), np.zeros(0))


def masked_dlt(P: np.ndarray, uv: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Batched DLT over a subset of views: P (V, 3, 4), uv (M, V, 2), w (M, V) 0/1 -> X (M, 3), NaN if degenerate."""
    uv = np.where(w[..., None] > 0, uv, 0.0)  # (M, V, 2) padding must not turn rows into NaN
    a = uv[..., 0:1] * P[None, :, 2, :] - P[None, :, 0, :]  # (M, V, 4)
    b = uv[..., 1:2] * P[None, :, 2, :] - P[None, :, 1, :]  # (M, V, 4)
    A = np.concatenate([a, b], axis=1)  # (M, 2V, 4)
    A = A / np.linalg.norm(A[..., :3], axis=-1, keepdims=True) * np.concatenate([w, w], axis=1)[..., None]
    M = A[..., :3]  # (M, 2V, 3)
    MtM = np.einsum("mki,mkj->mij", M, M)  # (M, 3, 3)
    Mtb = -np.einsum("mki,mk->mi", M, A[..., 3])  # (M, 3)
    ok = np.abs(np.linalg.det(MtM)) > 1e-15
    X = np.full((len(A), 3), np.nan)
    X[ok] = np.linalg.solve(MtM[ok], Mtb[ok][..., None])[..., 0]
    return X


def _distinct(kidx: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Indices of ``order`` whose inlier assignment (row of kidx, (H, V)) was not seen earlier in ``order``."""
    base = (kidx.max(initial=0) + 2) ** np.arange(kidx.shape[1], dtype=np.float64)  # (V,)
    if base[-1] * (kidx.max(initial=0) + 2) < 2.0 ** 53:  # one exact number per assignment (fast)
        _, first = np.unique((kidx[order] + 1) @ base, return_index=True)
    else:  # many cameras and candidates: compare the rows themselves
        _, first = np.unique(kidx[order], axis=0, return_index=True)
    return order[np.sort(first)]


def _score(P, cand, X, cfg: AssocConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inlier assignment (M, V), distances (M, V) and unary (M,) of points X (M, 3)."""
    d, k = _nearest(P, cand, X, cfg.bounds_m)  # (M, V), (M, V)
    inl = d < cfg.gate_px
    s = np.take_along_axis(cand[None, :, :, 2], k[..., None], axis=2)[..., 0]  # (M, V) detector score
    s = np.where(inl, np.nan_to_num(s), 0.0)
    support = np.where(inl, 1.0 - (np.where(inl, d, 0.0) / cfg.gate_px) ** 2, 0.0) + cfg.score_weight * s
    return np.where(inl, k, -1), np.where(inl, d, np.inf), -support.sum(axis=1)


def fundamental_matrices(P: np.ndarray) -> np.ndarray:
    """(V, V, 3, 3) F[a, b] with x_b^T F[a, b] x_a = 0 for the images x_a, x_b of one point (zero on the diagonal)."""
    V = len(P)
    F = np.zeros((V, V, 3, 3))
    for a in range(V):
        C = np.linalg.svd(P[a])[2][-1]  # (4,) camera centre, homogeneous: P[a] @ C = 0
        Pinv = np.linalg.pinv(P[a])  # (4, 3)
        for b in range(V):
            if a != b:
                e = P[b] @ C  # (3,) epipole in image b
                ex = np.array([[0, -e[2], e[1]], [e[2], 0, -e[0]], [-e[1], e[0], 0]])
                F[a, b] = ex @ P[b] @ Pinv
    return F


def epipolar_px(F: np.ndarray, cand: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """(H,) distance in pixels of the second candidate of every pair to the epipolar line of the first."""
    xa = np.concatenate([cand[hyp[:, 0, 0], hyp[:, 0, 1], :2], np.ones((len(hyp), 1))], axis=1)  # (H, 3)
    xb = np.concatenate([cand[hyp[:, 1, 0], hyp[:, 1, 1], :2], np.ones((len(hyp), 1))], axis=1)  # (H, 3)
    line = np.einsum("hij,hj->hi", F[hyp[:, 0, 0], hyp[:, 1, 0]], xa)  # (H, 3) epipolar line in image b
    return np.abs(np.sum(line * xb, axis=1)) / np.maximum(np.hypot(line[:, 0], line[:, 1]), 1e-12)


def frame_hypotheses(P: np.ndarray, cand: np.ndarray, cfg: AssocConfig, F: np.ndarray | None = None) -> FrameHyps:
    """The ``hypotheses_per_frame`` best distinct hypotheses of one frame: P (V, 3, 4), cand (V, K, 3).

    ``F`` (fundamental_matrices(P)) drops candidate pairs farther than twice the gate from each other's
    epipolar line before triangulating: they cannot both be inliers of one point (a speed-up; only
    hypotheses whose own pair is inconsistent, i.e. found again from another pair or weak, are lost)."""
    V = len(P)
    hyp = _hypotheses(cand, cfg.max_hypotheses if F is None else 10 ** 9)  # (H, 2, 2) pairs of two cameras
    if F is not None and len(hyp):  # filter first, then cap: the cap applies to plausible pairs only
        hyp = hyp[epipolar_px(F, cand, hyp) < 2 * cfg.gate_px][:cfg.max_hypotheses]
    if len(hyp) == 0:
        return FrameHyps.empty(V)
    X = dlt(P[hyp[..., 0]], cand[hyp[..., 0], hyp[..., 1], :2])  # (H, 3) two-view points
    X = np.where(np.isfinite(X), X, 1e9)
    kidx, _, unary = _score(P, cand, X, cfg)
    good = np.nonzero((kidx >= 0).sum(axis=1) >= cfg.min_views)[0]
    keep = _distinct(kidx, good[np.argsort(unary[good], kind="stable")])[:2 * cfg.hypotheses_per_frame]
    if len(keep) == 0:
        return FrameHyps.empty(V)
    # refit every kept hypothesis on all of its inliers, then score and de-duplicate again
    kk = kidx[keep]  # (M, V)
    w = (kk >= 0).astype(float)
    uv = cand[np.arange(V)[None, :], np.maximum(kk, 0), :2]  # (M, V, 2)
    X = masked_dlt(P, uv, w)  # (M, 3)
    X = np.where(np.isfinite(X), X, 1e9)
    kidx, d, unary = _score(P, cand, X, cfg)
    good = np.nonzero((kidx >= 0).sum(axis=1) >= cfg.min_views)[0]
    keep = _distinct(kidx, good[np.argsort(unary[good], kind="stable")])[:cfg.hypotheses_per_frame]
    return FrameHyps(X[keep], kidx[keep], d[keep], unary[keep])


def _padded(hyps: list[FrameHyps]) -> tuple[np.ndarray, np.ndarray]:
    """Hypotheses of all frames as (T, N, 3) points and (T, N) unaries (+inf where a frame has fewer)."""
    N = max([len(h.unary) for h in hyps] + [1])
    X, U = np.zeros((len(hyps), N, 3)), np.full((len(hyps), N), np.inf)
    for t, h in enumerate(hyps):
        X[t, :len(h.unary)], U[t, :len(h.unary)] = h.xyz, h.unary
    return X, U


def viterbi(hyps: list[FrameHyps], dt: float, cfg: AssocConfig) -> np.ndarray:
    """One hypothesis index per frame (-1 = missing) minimising the path cost of the module docstring."""
    X, U = _padded(hyps)  # (T, N, 3), (T, N)
    T, N = U.shape
    G, m = cfg.max_skip_frames + 1, cfg.missing_cost
    D = np.full((T, N), np.inf)  # D[t, b]: best cost of frames 0..t with hypothesis b at frame t
    bp = np.full((T, N), -1)  # previous real state s * N + a; -1: restart after E[t]; -2: first state of the path
    E = np.zeros(T + 1)  # E[t]: best cost of any labelling of frames 0..t-1
    E_arg = np.full(T + 1, -1)  # hypothesis of frame t-1 in that labelling, -1 when frame t-1 is missing
    for t in range(T):
        s0 = max(0, t - G)
        restart, kind = (t * m, -2) if t * m <= E[t] + cfg.jump_cost else (E[t] + cfg.jump_cost, -1)
        cost, back = np.full(N, restart), np.full(N, kind)
        if t > 0:
            gap = (t - np.arange(s0, t))[:, None, None]  # (g, 1, 1) frames elapsed
            step = np.sqrt(((X[s0:t, :, None, :] - X[t][None, None]) ** 2).sum(-1))  # (g, N, N) metres
            limit = cfg.max_speed_ms * gap * dt + cfg.speed_slack_m  # (g, 1, 1) metres
            pair = np.where(step <= limit, cfg.step_weight * (step / limit) ** 2, cfg.jump_cost)  # (g, N, N)
            total = (D[s0:t, :, None] + (gap - 1) * m + pair).reshape(-1, N)  # (g * N, N)
            best = total.argmin(axis=0)  # (N,)
            val = total[best, np.arange(N)]
            better = val < cost
            cost, back = np.where(better, val, cost), np.where(better, best + s0 * N, back)
        D[t], bp[t] = cost + U[t], back
        arg = int(np.argmin(D[t]))
        stay = E[t] + m  # frame t missing
        E[t + 1], E_arg[t + 1] = (D[t, arg], arg) if D[t, arg] < stay else (stay, -1)
    return _backtrack(bp, E_arg, N)


def _backtrack(bp: np.ndarray, E_arg: np.ndarray, N: int) -> np.ndarray:
    """Follow the back-pointers of ``viterbi`` from the end of the sequence."""
    path = np.full(len(bp), -1)
    t = len(bp)  # position in E: labelling of frames 0..t-1
    while t > 0:
        if E_arg[t] < 0:
            t -= 1  # frame t-1 missing
            continue
        f, b = t - 1, int(E_arg[t])
        while True:  # follow real states back to the start of this track
            path[f] = b
            code = int(bp[f, b])
            if code < 0:
                break
            f, b = divmod(code, N)
        if code == -2:
            break  # every earlier frame is missing
        t = f  # the track restarted after the best labelling of frames 0..f-1
    return path


def regate(P: np.ndarray, cand: np.ndarray, frame: int, h: FrameHyps, b: int, cfg: AssocConfig) -> FrameFix:
    """Chosen hypothesis b of a frame -> FrameFix: every camera's nearest candidate within the gate of the
    point joins, the point is refined on them and the gate applied again until stable (association.refit)."""
    return refit(P, cand, h.xyz[b], frame, cfg)


def _missing(cand_t: np.ndarray, frame: int, had_hypotheses: bool, cfg: AssocConfig) -> FrameFix:
    """Reason of a frame the path leaves missing."""
    if had_hypotheses:
        return FrameFix(frame, None, reason="hypotheses inconsistent with the sequence")
    n_cams = int(np.isfinite(cand_t[:, :, 0]).any(axis=1).sum())
    if n_cams < cfg.min_views:
        return FrameFix(frame, None, reason=f"detections in {n_cams} camera(s)")
    return FrameFix(frame, None, reason=f"no hypothesis with {cfg.min_views} consistent views")


def associate_sequence(cameras: list[Camera], candidates: dict[str, list], cfg: AssocConfig, fps: float,
                       source: str = "detections") -> Association:
    """All frames of one sequence: hypotheses per frame, Viterbi, re-gate, re-association of jumps."""
    cand = pad_candidates(cameras, candidates, cfg.min_score, source)
    P = np.stack([c.P for c in cameras])  # (V, 3, 4)
    few = too_few_cameras(cameras, cfg, len(cand))
    if few is not None:
        return Association([c.name for c in cameras], P, cand, few, meta={"hypotheses_mean": 0.0, "rejected_frames": 0,
                                                                          "not_best_frames": 0})
    F = fundamental_matrices(P)  # (V, V, 3, 3)
    hyps = [frame_hypotheses(P, cand[i], cfg, F) for i in range(len(cand))]
    path = viterbi(hyps, 1.0 / fps, cfg)
    fixes = [regate(P, cand[i], i, hyps[i], int(b), cfg) if b >= 0
             else _missing(cand[i], i, len(hyps[i].unary) > 0, cfg) for i, b in enumerate(path)]
    for _ in range(2):
        fixes = reassociate(P, cand, fixes, cfg)
    meta = {"hypotheses_mean": float(np.mean([len(h.unary) for h in hyps])),
            "rejected_frames": int(sum(len(h.unary) > 0 for h, b in zip(hyps, path) if b < 0)),
            "not_best_frames": int(sum(b > 0 for b in path))}
    assoc = Association([c.name for c in cameras], P, cand, fixes, meta=meta)
    log.info("sequence association: %s", assoc.summary())
    return assoc
