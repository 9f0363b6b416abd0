"""Camera pose from the painted pitch lines seen in a camera's own video (no landmark clicks).

Per camera (intrinsics and distortion already calibrated from the board video):
1. ``background_plate``: temporal median of evenly sampled frames (players and ball move).
2. ``line_evidence``: whiteness (min of B, G, R: grass is dark in red and blue), white top-hat
   (minus its opening with a disc wider than a line), kept where it exceeds ``noise_k`` robust
   noise sigmas and ``rel_threshold`` x the local top-hat maximum (contrast-relative), thinned to
   the ridge (non-maximum suppression across the line, direction from the Hessian).
3. ``dense_model``: 3D points every ``model_step_m`` along every marking of ``ball3d.pitch``.
4. ``refine_pose``: pan/tilt grid search (``aim_search``), then robust (soft-L1) least squares on
   (rvec, tvec) of distance-transform values at the projected points, coarse to fine (truncated
   and blurred maps first: capture range), analytic Jacobian.
5. ``refine_subpixel``: point-to-line residuals against sub-pixel line centres.
Failures (few line pixels, high residual, few matches, an implausible move from the initial
guess) raise a PipelineError naming the camera: never a silently bad camera.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np
from scipy.optimize import least_squares

from ball3d.pitch import line_polylines
from ball3d.videoio import iter_frames, probe_video
from pipeutil.io import PipelineError


@dataclass
class LineEvidence:
    mask: np.ndarray  # (H, W) bool, thinned line pixels
    tophat: np.ndarray  # (H, W) float32 white top-hat of the whiteness
    threshold: float  # noise floor used, grey levels


@dataclass
class LineFit:
    R: np.ndarray  # (3, 3) world -> camera
    t: np.ndarray  # (3,)
    residual_px: float  # median distance of the matched model points to the nearest line pixel, image px
    rms_px: float  # RMS of those distances, image px
    n_points: int  # model points used in the fine stage (inside the image)
    inlier_frac: float  # fraction of them matched (within the fine truncation of a line pixel)
    explained_frac: float  # fraction of the line pixels within the fine truncation of the projected model
    line_pixels: int
    moved_m: float  # camera centre shift from the initial guess
    turned_deg: float  # rotation from the initial guess
    R_dt: np.ndarray | None = None  # pose after the distance-transform stages (before the sub-pixel step)
    t_dt: np.ndarray | None = None
    restart: int = 0  # 0 = the fit from the initial guess; i = the i-th centre of restart_centres

    def summary(self) -> dict:
        return {"line_residual_px": round(self.residual_px, 3), "line_rms_px": round(self.rms_px, 3),
                "line_points": self.n_points, "line_inlier_frac": round(self.inlier_frac, 4),
                "line_explained_frac": round(self.explained_frac, 4),
                "line_pixels": self.line_pixels, "moved_from_initial_m": round(self.moved_m, 3),
                "turned_from_initial_deg": round(self.turned_deg, 3), "line_restart": self.restart}


def background_plate(video: str, n_samples: int) -> np.ndarray:
    """Temporal median (H, W, 3) uint8 of up to ``n_samples`` evenly spaced frames."""
    info = probe_video(video)
    every = max(1, info.n_frames // max(n_samples, 1)) if info.n_frames > 0 else 1
    frames = [f for _, f in iter_frames(video, every)][:n_samples]
    if not frames:
        raise PipelineError(f"{video}: no frames to build the background plate from")
    return np.median(np.stack(frames), axis=0).astype(np.uint8)  # (T, H, W, 3) -> (H, W, 3)


def _ridge_nms(resp: np.ndarray, sigma: float) -> np.ndarray:
    """True where ``resp`` is a maximum across the ridge (direction of the strongest curvature)."""
    s = cv2.GaussianBlur(resp, (0, 0), sigma)
    dxx = cv2.Sobel(s, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(s, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(s, cv2.CV_32F, 1, 1, ksize=3)
    ang = 0.5 * np.arctan2(2 * dxy, dxx - dyy) + np.pi / 2  # eigenvector of the most negative eigenvalue
    nx, ny = np.cos(ang), np.sin(ang)  # (H, W) normal across the ridge
    h, w = resp.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fwd = cv2.remap(s, xx + nx.astype(np.float32), yy + ny.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    bwd = cv2.remap(s, xx - nx.astype(np.float32), yy - ny.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return (s >= fwd) & (s >= bwd)


def line_evidence(plate: np.ndarray, tophat_px: int, noise_k: float, rel_threshold: float,
                  local_px: int, thin: bool = True) -> LineEvidence:
    """Line pixels of a background plate: white top-hat, contrast-relative threshold, ridge thinning."""
    white = plate.min(axis=2).astype(np.float32) if plate.ndim == 3 else plate.astype(np.float32)  # (H, W)
    k = max(3, int(tophat_px) | 1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    th = cv2.morphologyEx(white, cv2.MORPH_TOPHAT, disc)  # (H, W) >= 0
    resid = white - cv2.medianBlur(white, 3)  # (H, W) pixel noise + fine texture; lines are rare
    sigma_px = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))  # per-pixel noise, grey levels
    q25, q75 = np.percentile(th, [25, 75])
    sigma = max(sigma_px, float(q75 - q25) / 1.349) + 0.5  # top-hat spread of the grass (0 on tiny images)
    floor = noise_k * sigma
    lk = max(3, int(local_px) | 1)
    local_max = cv2.dilate(cv2.GaussianBlur(th, (0, 0), 1.0), cv2.getStructuringElement(cv2.MORPH_RECT, (lk, lk)))
    mask = (th > floor) & (th > rel_threshold * local_max)
    if thin:
        mask &= _ridge_nms(th, max(1.0, k / 4))
    _, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < max(3, k // 2)  # isolated specks are texture or noise, not lines
    small[0] = False
    mask &= ~small[lab]
    return LineEvidence(mask=mask, tophat=th, threshold=floor)


def dense_model(step_m: float) -> np.ndarray:
    """(N, 3) points every ``step_m`` along every pitch marking (z = 0), metres."""
    out = []
    for pl in line_polylines():
        for a, b in pairwise(pl):
            n = max(1, int(np.ceil(np.linalg.norm(b - a) / step_m)))
            s = np.arange(n)[:, None] / n
            out.append(a[None] * (1 - s) + b[None] * s)  # (n, 2), excludes b (the next segment starts there)
    xy = np.concatenate(out)
    return np.hstack([xy, np.zeros((len(xy), 1))])


def distance_map(mask: np.ndarray, trunc_px: float, blur_px: float = 0.0) -> np.ndarray:
    """Distance (px) to the nearest line pixel, truncated at ``trunc_px``, optionally Gaussian-blurred."""
    dt = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)  # (H, W) float32
    dt = np.minimum(dt, trunc_px)
    return cv2.GaussianBlur(dt, (0, 0), blur_px) if blur_px > 0 else dt


def project(X: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """(N, 3) world points -> (N, 2) distorted pixels (OpenCV model)."""
    uv, _ = cv2.projectPoints(X.reshape(-1, 1, 3), cv2.Rodrigues(R)[0], t.reshape(3, 1), K, dist)
    return uv.reshape(-1, 2)


def visible_points(X: np.ndarray, R, t, K, dist, size: tuple[int, int], margin_px: float) -> np.ndarray:
    """Model points in front of the camera that project inside the image (minus a margin)."""
    zc = X @ R[2] + t[2]
    front = zc > 1.0
    uv = project(X[front], R, t, K, dist)
    w, h = size
    ok = (uv[:, 0] >= margin_px) & (uv[:, 0] < w - 1 - margin_px) & (uv[:, 1] >= margin_px) & (uv[:, 1] < h - 1 - margin_px)
    return X[front][ok]


def sample_map(img: np.ndarray, uv: np.ndarray, outside: float) -> np.ndarray:
    """Bilinear samples (N,) of a float32 map at pixel positions (N, 2); ``outside`` beyond the border."""
    m = np.ascontiguousarray(uv.astype(np.float32).reshape(-1, 1, 2))
    out = cv2.remap(img, m, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=float(outside))
    vals = out.reshape(-1)
    vals[~np.all(np.isfinite(uv), axis=1)] = outside
    return vals


@dataclass(frozen=True)
class Stage:
    trunc_px: float  # distance-transform truncation (capture range), px
    blur_px: float  # Gaussian blur of the truncated distance transform, px (0 = sharp)


def solve_pose(X: np.ndarray, rvec: np.ndarray, tvec: np.ndarray, K, dist, image_term, loss_scale_px: float,
               max_iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Robust least squares over (rvec, tvec); analytic Jacobian dr/dpose = dr/duv . duv/dpose.

    ``image_term(uv)`` returns the residuals (N,) px and their gradients dr/duv (N, 2).
    """
    cache: dict = {}

    def evaluate(x):
        key = x.tobytes()
        if key not in cache:
            uv, J = cv2.projectPoints(X.reshape(-1, 1, 3), x[:3], x[3:], K, dist)
            J = J[:, :6].reshape(-1, 2, 6)  # (N, 2, 6): d(u, v) / d(rvec, tvec)
            r, g = image_term(uv.reshape(-1, 2))
            cache.clear()
            cache[key] = (r.astype(np.float64), np.einsum("nk,nkj->nj", g.astype(np.float64), J))  # (N,), (N, 6)
        return cache[key]

    x0 = np.r_[np.ravel(rvec), np.ravel(tvec)].astype(np.float64)
    sol = least_squares(lambda x: evaluate(x)[0], x0, jac=lambda x: evaluate(x)[1], loss="soft_l1",
                        f_scale=loss_scale_px, x_scale="jac", max_nfev=max_iterations, method="trf",
                        tr_solver="lsmr")  # 6 unknowns: lsmr avoids an SVD of the (N, 6) Jacobian per step
    return sol.x[:3], sol.x[3:]


def dt_term(dt: np.ndarray, trunc_px: float):
    """Residual = distance-transform value at the projected point, gradient from Sobel of the map."""
    gx = cv2.Sobel(dt, cv2.CV_32F, 1, 0, ksize=3) / 8.0  # (H, W) d/du
    gy = cv2.Sobel(dt, cv2.CV_32F, 0, 1, ksize=3) / 8.0

    def term(uv):
        r = sample_map(dt, uv, trunc_px)
        return r, np.stack([sample_map(gx, uv, 0.0), sample_map(gy, uv, 0.0)], axis=1)

    return term


def aim_search(mask: np.ndarray, X: np.ndarray, R0: np.ndarray, t0: np.ndarray, K, dist, stage: Stage,
               search_deg: float, step_deg: float) -> np.ndarray:
    """Best pan / tilt (rotation about the camera's y and x axes, centre fixed) on a grid of +-search_deg.

    Widens the capture range of the first stage: the aim point is what a user knows least well.
    Score: mean distance-transform value at every model point in front of the camera (outside the
    image = the truncation).
    """
    C = -R0.T @ t0
    front = X[X @ R0[2] + t0[2] > 1.0]
    dt = distance_map(mask, stage.trunc_px, stage.blur_px)
    best, best_R = np.inf, R0
    steps = np.arange(-search_deg, search_deg + 1e-9, step_deg) if search_deg > 0 else np.zeros(1)
    for pan in np.radians(steps):
        for tilt in np.radians(steps):
            R = cv2.Rodrigues(np.array([tilt, pan, 0.0]))[0] @ R0  # camera-frame increment
            score = float(np.mean(sample_map(dt, project(front, R, -R @ C, K, dist), stage.trunc_px)))
            if score < best - 1e-6:
                best, best_R = score, R
    return best_R


def refine_pose(mask: np.ndarray, X: np.ndarray, R0: np.ndarray, t0: np.ndarray, K, dist, stages: list[Stage],
                loss_scale_px: float, max_iterations: int, margin_px: float,
                search: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aim search (``search`` = (half range, step) in degrees), then coarse-to-fine distance-transform
    alignment; returns (R, t, model points used in the last stage)."""
    h, w = mask.shape
    R_aim = aim_search(mask, X, R0, t0, K, dist, stages[0], *search)
    t_aim = -R_aim @ (-R0.T @ t0)
    rvec, tvec = cv2.Rodrigues(R_aim)[0].ravel(), t_aim
    used = X[:0]
    for st in stages:
        R = cv2.Rodrigues(rvec)[0]
        used = visible_points(X, R, tvec, K, dist, (w, h), margin_px)
        if len(used) < 6:
            break
        dt = distance_map(mask, st.trunc_px, st.blur_px)
        rvec, tvec = solve_pose(used, rvec, tvec, K, dist, dt_term(dt, st.trunc_px), max(loss_scale_px, st.blur_px),
                                max_iterations)
    return cv2.Rodrigues(rvec)[0], tvec, used


@dataclass
class RidgePoints:
    labels: np.ndarray  # (H, W) int32: index of the nearest line pixel (into the arrays below)
    dist: np.ndarray  # (H, W) float32 distance to it, px
    xy: np.ndarray  # (M, 2) sub-pixel line centres, px
    normal: np.ndarray  # (M, 2) unit normals across the line


def ridge_points(ev: LineEvidence, half_px: int) -> RidgePoints:
    """Sub-pixel centre and normal of every line pixel: top-hat centroid across the line (+-half_px)."""
    s = cv2.GaussianBlur(ev.tophat, (0, 0), 1.5)
    dxx = cv2.Sobel(s, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(s, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(s, cv2.CV_32F, 1, 1, ksize=3)
    ys, xs = np.nonzero(ev.mask)
    ang = 0.5 * np.arctan2(2 * dxy[ys, xs], dxx[ys, xs] - dyy[ys, xs]) + np.pi / 2  # across the line
    n = np.stack([np.cos(ang), np.sin(ang)], axis=1)  # (M, 2)
    offs = np.arange(-half_px, half_px + 1, dtype=np.float32)  # (S,)
    px = xs[:, None] + offs[None] * n[:, :1]  # (M, S)
    py = ys[:, None] + offs[None] * n[:, 1:]
    m = np.ascontiguousarray(np.stack([px, py], axis=2).astype(np.float32))  # (M, S, 2)
    prof = cv2.remap(ev.tophat, m, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # (M, S)
    prof = np.maximum(prof - ev.threshold, 0)
    c = (prof * offs[None]).sum(1) / np.maximum(prof.sum(1), 1e-6)  # (M,) centroid offset along n
    xy = np.stack([xs + c * n[:, 0], ys + c * n[:, 1]], axis=1)
    dist, lab = cv2.distanceTransformWithLabels((~ev.mask).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    lab2idx = np.zeros(int(lab.max()) + 1, np.int64)
    lab2idx[lab[ys, xs]] = np.arange(len(ys))
    return RidgePoints(labels=lab2idx[lab].astype(np.int32), dist=dist, xy=xy, normal=n)


def ridge_term(rp: RidgePoints, gate_px: float):
    """Residual = signed distance along the line normal to the nearest sub-pixel line centre (gated)."""
    h, w = rp.labels.shape

    def term(uv):
        ok = np.all(np.isfinite(uv), axis=1)
        ui = np.clip(np.round(np.where(ok[:, None], uv, -1)).astype(np.int64), 0, [w - 1, h - 1])
        idx = rp.labels[ui[:, 1], ui[:, 0]]
        n = rp.normal[idx].copy()  # (N, 2)
        r = np.sum((uv - rp.xy[idx]) * n, axis=1)
        far = ~ok | (rp.dist[ui[:, 1], ui[:, 0]] > gate_px)
        r[far], n[far] = gate_px, 0.0
        return r, n

    return term


def refine_subpixel(rp: RidgePoints, X: np.ndarray, R0: np.ndarray, t0: np.ndarray, K, dist, gate_px: float,
                    loss_scale_px: float, max_iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Point-to-line refinement against sub-pixel line centres (correspondences re-found at every step)."""
    rvec, tvec = solve_pose(X, cv2.Rodrigues(R0)[0].ravel(), np.asarray(t0, np.float64), K, dist,
                            ridge_term(rp, gate_px), loss_scale_px, max_iterations)
    return cv2.Rodrigues(rvec)[0], tvec


def _scaled(cfg: dict, key: str, scale: float, lo: float = 0.0) -> float:
    return max(lo, float(cfg[key]) * scale)


def _turn_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(Ra @ Rb.T) - 1) / 2, -1, 1))))


def model_raster(R, t, K, dist, size: tuple[int, int], step_m: float = 0.1) -> np.ndarray:
    """(H, W) bool: every pitch marking drawn 1 px wide with the pose (R, t)."""
    w, h = size
    out = np.zeros((h, w), np.uint8)
    for pl in line_polylines():
        dense = np.concatenate([np.linspace(a, b, max(2, int(np.linalg.norm(b - a) / step_m)))
                                for a, b in pairwise(pl)])  # (n, 2)
        X = np.hstack([dense, np.zeros((len(dense), 1))])
        front = X @ R[2] + t[2] > 1.0
        for run in np.split(np.arange(len(X)), np.flatnonzero(np.diff(front.astype(int))) + 1):
            if front[run[0]] and len(run) > 1:
                uv = project(X[run], R, t, K, dist)
                uv = np.clip(uv, -4 * w, 4 * w)  # keep far-off points inside int range
                cv2.polylines(out, [np.round(uv * 16).astype(np.int32)], False, 1, 1, cv2.LINE_8, shift=4)
    return out.astype(bool)


def fit_quality(ev: LineEvidence, X: np.ndarray, R, t, K, dist, gate_px: float) -> tuple[float, float, float, float]:
    """(median, RMS) distance of the matched model points (within ``gate_px`` of a line pixel), the matched
    fraction of the model points, and the fraction of line pixels within ``gate_px`` of the projected model."""
    dt = distance_map(ev.mask, gate_px)
    d = sample_map(dt, project(X, R, t, K, dist), gate_px)  # (N,)
    hit = d < gate_px
    model = model_raster(R, t, K, dist, (ev.mask.shape[1], ev.mask.shape[0]))
    d_model = cv2.distanceTransform((~model).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    explained = float(np.mean(d_model[ev.mask] < gate_px)) if ev.mask.any() else 0.0
    if not hit.any():
        return gate_px, gate_px, 0.0, explained
    return float(np.median(d[hit])), float(np.sqrt(np.mean(d[hit] ** 2))), float(hit.mean()), explained


def restart_centres(C0: np.ndarray, step_m: float) -> list[np.ndarray]:
    """Camera centres the alignment restarts from when the fit from the initial guess fails its checks:
    ``step_m`` away along +-x, +-y (the pitch plane), the four horizontal diagonals and +-z, in this fixed order."""
    offs = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (1, 1, 0), (1, -1, 0), (-1, 1, 0), (-1, -1, 0),
            (0, 0, 1), (0, 0, -1)]
    return [C0 + step_m * np.asarray(o, float) / np.linalg.norm(o) for o in offs]


def align_camera(plate: np.ndarray, K: np.ndarray, dist: np.ndarray, R0: np.ndarray, t0: np.ndarray, cfg: dict,
                 camera: str) -> LineFit:
    """Pose of one camera from the lines of its background plate, starting at (R0, t0).

    ``cfg`` is params ``calibrate.lines``; its pixel values are for 1920 px wide images and are
    scaled with the image width. Raises PipelineError naming the camera when the fit is not trustworthy.

    A camera centre off by a few metres from the initial guess can trap the coarse-to-fine alignment in a
    local minimum (a wrong pose whose lines half overlap: residual ~2 px, ~40 % of the line pixels
    explained). When the fit from the initial guess fails the quality checks, the alignment restarts from
    the centres of :func:`restart_centres` (``restart_step_m``; 0 = off) with the same aim, and the passing fit
    with the smallest median residual is kept (``restart`` of the fit says which start won). The checks
    themselves, including the distance moved from the initial guess, are unchanged.
    """
    try:
        return _align_from(plate, K, dist, R0, t0, cfg, camera)
    except _CheckFailed as first:
        step = float(cfg.get("restart_step_m", 0.0))
        if step <= 0:
            raise
        fits = []
        for i, C in enumerate(restart_centres(-R0.T @ t0, step)):
            try:
                fit = _align_from(plate, K, dist, R0, -R0 @ C, cfg, camera, origin=(R0, t0))
            except PipelineError:  # failed checks, or too few model points in view from this start
                continue
            fits.append(dataclasses.replace(fit, restart=i + 1))
        if not fits:
            raise PipelineError(f"{first}; also from {len(restart_centres(np.zeros(3), step))} restarts "
                                f"{step:g} m around the initial centre (calibrate.lines.restart_step_m)") from None
        return min(fits, key=lambda f: f.residual_px)


class _CheckFailed(PipelineError):
    """The alignment ran but its result failed the quality checks (a restart may still succeed)."""


def _align_from(plate, K, dist, R0, t0, cfg: dict, camera: str, origin=None) -> LineFit:
    """One alignment from (R0, t0); ``origin`` (default the start) is the pose the move checks measure from."""
    Ro, to = origin if origin is not None else (R0, t0)
    sc = plate.shape[1] / 1920.0
    hint = "provide landmarks_px.json clicks for it (docs/vision.md) or check scenes.cameras (the initial pose)"
    ev = line_evidence(plate, round(_scaled(cfg, "tophat_px", sc, 3)), cfg["noise_k"], cfg["rel_threshold"],
                       round(_scaled(cfg, "local_px", sc, 5)))
    n_pix = int(ev.mask.sum())
    if n_pix < _scaled(cfg, "min_line_pixels", sc):
        raise PipelineError(f"camera {camera!r}: only {n_pix} pitch-line pixels found in the background plate "
                            f"(calibrate.lines.min_line_pixels={cfg['min_line_pixels']} at 1920 px width): "
                            f"cannot align the pitch lines; {hint}")
    X = dense_model(float(cfg["model_step_m"]))
    stages = [Stage(max(2.0, s["trunc_px"] * sc), s["blur_px"] * sc) for s in cfg["stages"]]
    loss = _scaled(cfg, "loss_scale_px", sc, 0.25)
    R, t, used = refine_pose(ev.mask, X, R0, t0, K, dist, stages, loss, int(cfg["max_iterations"]),
                             _scaled(cfg, "margin_px", sc), (float(cfg["search_deg"]), float(cfg["search_step_deg"])))
    if len(used) < int(cfg["min_points"]):
        raise PipelineError(f"camera {camera!r}: only {len(used)} pitch-line model points project into the image "
                            f"(calibrate.lines.min_points={cfg['min_points']}); {hint}")
    R_dt, t_dt = R, t
    if cfg["subpixel"]:
        rp = ridge_points(ev, round(_scaled(cfg, "tophat_px", sc, 3) / 2))
        R, t = refine_subpixel(rp, used, R, t, K, dist, _scaled(cfg, "subpixel_gate_px", sc, 1.5),
                               _scaled(cfg, "subpixel_loss_px", sc, 0.25), int(cfg["max_iterations"]))
    med, rms, inl, expl = fit_quality(ev, used, R, t, K, dist, stages[-1].trunc_px)
    fit = LineFit(R=R, t=t, residual_px=med, rms_px=rms, n_points=len(used), inlier_frac=inl, explained_frac=expl,
                  line_pixels=n_pix, moved_m=float(np.linalg.norm(R.T @ t - Ro.T @ to)), turned_deg=_turn_deg(R, Ro),
                  R_dt=R_dt, t_dt=t_dt)
    _check(fit, cfg, camera, hint, sc)
    return fit


def _check(fit: LineFit, cfg: dict, camera: str, hint: str, sc: float) -> None:
    """Global invariants of a line alignment: small residual, enough inliers, a plausible move."""
    why = []
    limit = max(cfg["max_residual_px"] * sc, 1.0)  # scaled with the width, floored at 1 px (line pixels are whole pixels)
    if fit.residual_px > limit:
        why.append(f"median line residual {fit.residual_px:.2f} px > {limit:.2f} px (calibrate.lines.max_residual_px="
                   f"{cfg['max_residual_px']} at 1920 px width)")
    if fit.inlier_frac < cfg["min_inlier_frac"]:
        why.append(f"only {100 * fit.inlier_frac:.0f} % of the model points lie on a detected line "
                   f"(calibrate.lines.min_inlier_frac={cfg['min_inlier_frac']})")
    if fit.explained_frac < cfg["min_explained_frac"]:
        why.append(f"only {100 * fit.explained_frac:.0f} % of the detected line pixels lie on the projected pitch "
                   f"model (calibrate.lines.min_explained_frac={cfg['min_explained_frac']})")
    if fit.moved_m > cfg["max_move_m"] or fit.turned_deg > cfg["max_turn_deg"]:
        why.append(f"the pose moved {fit.moved_m:.1f} m / {fit.turned_deg:.1f} deg from the initial guess "
                   f"(limits calibrate.lines.max_move_m={cfg['max_move_m']}, max_turn_deg={cfg['max_turn_deg']})")
    if why:
        raise _CheckFailed(f"camera {camera!r}: pitch-line alignment failed: {'; '.join(why)}; {hint}")
