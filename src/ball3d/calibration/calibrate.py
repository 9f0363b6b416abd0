"""Camera calibration from video: chessboard intrinsics, landmark PnP extrinsics, errors vs truth.

Intrinsics follow OpenCV's calibrate.py recipe: sample frames evenly, find the board on a
downscaled copy, refine corners to sub-pixel at full resolution, reject blurred views
(variance of the Laplacian inside the board, relative to the median view), tiny boards and
near-duplicate poses, calibrate, drop per-view outliers and calibrate again. Per-view failures
are recorded with a reason; too few usable views stops the run with a message naming the camera.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ball3d.board import Board
from ball3d.camera import Camera
from ball3d.videoio import iter_frames, probe_video
from pipeutil.io import PipelineError


@dataclass
class View:
    frame: int
    corners: np.ndarray | None  # (N, 2) float32 sub-pixel corners, or None when the board was not found
    sharpness: float = 0.0  # variance of the Laplacian inside the board's bounding box
    area_frac: float = 0.0  # board hull area / image area
    status: str = "not found"  # accepted | blurred | too small | duplicate | outlier | not found


@dataclass
class Intrinsics:
    K: np.ndarray  # (3, 3)
    dist: np.ndarray  # (5,)
    rms_px: float
    width: int
    height: int
    views: list[View] = field(default_factory=list)

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        for v in self.views:
            counts[v.status] = counts.get(v.status, 0) + 1
        return {"rms_px": round(self.rms_px, 4), "views": counts,
                "rejected": [{"frame": v.frame, "reason": v.status} for v in self.views if v.status != "accepted"]}


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def iter_source(source: str, max_samples: int):
    """(index, BGR image) of a calibration video or of a folder of photographs, evenly sampled."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise PipelineError(f"{source}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        every = max(1, len(files) // max_samples)
        for i, f in enumerate(files[::every]):
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise PipelineError(f"{f}: cannot read image")
            yield i * every, img
        return
    info = probe_video(source)
    every = max(1, info.n_frames // max_samples) if info.n_frames > 0 else 1
    yield from iter_frames(source, every)


def detect_views(video: str, board: Board, max_samples: int, detect_width: int) -> tuple[list[View], tuple[int, int]]:
    """Find the board in evenly sampled frames (video or photo folder); returns the views and the size (w, h)."""
    pattern = (board.cols, board.rows)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE  # FAST_CHECK misses small boards
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 1e-3)
    views = []
    size = None
    for i, frame in iter_source(video, max_samples):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        h, w = gray.shape
        if size not in (None, (w, h)):
            raise PipelineError(f"{video}: images differ in size ({size[0]}x{size[1]} and {w}x{h})")
        size = (w, h)
        s = min(1.0, detect_width / w)
        small = cv2.resize(gray, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else gray
        found, c = cv2.findChessboardCorners(small, pattern, flags=flags)
        if not found:  # sector-based detector: slower, more robust on real footage
            found, c = cv2.findChessboardCornersSB(small, pattern)
        if not found:
            views.append(View(frame=i, corners=None))
            continue
        c = (c.reshape(-1, 2) + 0.5) / s - 0.5
        spacing = np.median(np.linalg.norm(np.diff(c.reshape(board.rows, board.cols, 2), axis=1), axis=2))
        win = int(np.clip(spacing * 0.3, 2, 11))
        c = cv2.cornerSubPix(gray, c.astype(np.float32).reshape(-1, 1, 2), (win, win), (-1, -1), crit).reshape(-1, 2)
        x0, y0 = np.floor(c.min(0)).astype(int)
        x1, y1 = np.ceil(c.max(0)).astype(int)
        sharp = float(cv2.Laplacian(gray[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1], cv2.CV_64F).var())
        area = float(cv2.contourArea(cv2.convexHull(c.astype(np.float32))) / (w * h))
        views.append(View(frame=i, corners=c, sharpness=sharp, area_frac=area, status="found"))
    return views, size


def select_views(views: list[View], blur_ratio: float, min_area_frac: float, min_shift_frac: float,
                 size: tuple[int, int]) -> list[View]:
    """Mark found views as accepted, blurred, too small or duplicate (in place); return the accepted ones."""
    found = [v for v in views if v.corners is not None]
    if not found:
        return []
    med = float(np.median([v.sharpness for v in found]))
    diag = float(np.hypot(*size))
    accepted: list[View] = []
    for v in found:
        if v.sharpness < blur_ratio * med:
            v.status = "blurred"
        elif v.area_frac < min_area_frac:
            v.status = "too small"
        elif any(np.abs(v.corners - a.corners).max() < min_shift_frac * diag for a in accepted):
            v.status = "duplicate"
        else:
            v.status = "accepted"
            accepted.append(v)
    return accepted


@contextlib.contextmanager
def cv2_single_thread():
    """OpenCV on one thread inside the block: cv2.calibrateCamera sums its normal equations in parallel
    chunks, so with 2+ threads the result changes in the last digits from run to run."""
    old = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(old)


def _calibrate(views: list[View], board: Board, size, flags) -> tuple[float, np.ndarray, np.ndarray, list[float]]:
    obj = [board.object_points() for _ in views]
    img = [v.corners.astype(np.float32).reshape(-1, 1, 2) for v in views]
    with cv2_single_thread():  # deterministic: same views -> same bytes
        rms, K, dist, rvecs, tvecs = cv2.calibrateCamera(obj, img, size, None, None, flags=flags)
    errs = []
    for o, im, r, t in zip(obj, img, rvecs, tvecs):
        proj, _ = cv2.projectPoints(o, r, t, K, dist)
        errs.append(float(np.sqrt(np.mean(np.sum((proj - im) ** 2, axis=2)))))
    return float(rms), K, dist.reshape(-1), errs


def calibrate_intrinsics(video: str, board: Board, cfg: dict, camera: str) -> Intrinsics:
    """Intrinsics and distortion of ``camera`` from its chessboard video."""
    views, size = detect_views(video, board, int(cfg["max_samples"]), int(cfg["detect_width"]))
    if not any(v.corners is not None for v in views):
        raise PipelineError(f"camera {camera!r}: no {board.cols}x{board.rows} chessboard found in "
                            f"{len(views)} sampled frames of {video}")
    accepted = select_views(views, cfg["blur_ratio"], cfg["min_area_frac"], cfg["min_shift_frac"], size)
    if len(accepted) < int(cfg["min_views"]):
        raise PipelineError(f"camera {camera!r}: only {len(accepted)} usable board views in {video} "
                            f"(need calibrate.min_views={cfg['min_views']}); statuses: "
                            f"{[v.status for v in views]}")
    flags = (cv2.CALIB_FIX_K3 if cfg["fix_k3"] else 0) | (cv2.CALIB_ZERO_TANGENT_DIST if cfg["zero_tangent"] else 0)
    rms, K, dist, errs = _calibrate(accepted, board, size, flags)
    med = float(np.median(errs))
    keep = [v for v, e in zip(accepted, errs) if e <= cfg["outlier_factor"] * max(med, 0.05)]
    if len(keep) < len(accepted) and len(keep) >= int(cfg["min_views"]):
        for v, e in zip(accepted, errs):
            if v not in keep:
                v.status = "outlier"
        rms, K, dist, errs = _calibrate(keep, board, size, flags)
    dist5 = np.zeros(5)
    dist5[:min(5, dist.size)] = dist[:5]
    return Intrinsics(K=K, dist=dist5, rms_px=rms, width=size[0], height=size[1], views=views)


def solve_extrinsics(K: np.ndarray, dist: np.ndarray, xyz: np.ndarray, uv: np.ndarray, camera: str,
                     min_points: int) -> tuple[np.ndarray, np.ndarray, float]:
    """World-to-camera (R, t) from landmark correspondences (SQPnP, then Levenberg-Marquardt); RMS px."""
    if len(xyz) < min_points:
        raise PipelineError(f"camera {camera!r}: only {len(xyz)} pitch landmarks visible, PnP needs "
                            f"calibrate.min_landmarks={min_points}")
    obj, img = xyz.astype(np.float64).reshape(-1, 1, 3), uv.astype(np.float64).reshape(-1, 1, 2)
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, dist, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        raise PipelineError(f"camera {camera!r}: PnP on {len(xyz)} landmarks failed")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, dist, rvec, tvec)
    proj, _ = cv2.projectPoints(obj, rvec, tvec, K, dist)
    rms = float(np.sqrt(np.mean(np.sum((proj - img) ** 2, axis=2))))
    return cv2.Rodrigues(rvec)[0], tvec.reshape(3), rms


def synthetic_landmark_pixels(gt: Camera, names: list[str], xyz: np.ndarray, noise_px: float,
                              rng: np.random.Generator, margin_px: float = 5.0):
    """Landmark clicks on a rendered scene: ground-truth projection + Gaussian noise, inside the image."""
    uv, z = gt.project(xyz)
    ok = (z > 0) & np.all(np.isfinite(uv), axis=1)
    ok &= (uv[:, 0] >= margin_px) & (uv[:, 0] < gt.width - margin_px)
    ok &= (uv[:, 1] >= margin_px) & (uv[:, 1] < gt.height - margin_px)
    noisy = uv[ok] + rng.normal(0, noise_px, (int(ok.sum()), 2))
    return [n for n, k in zip(names, ok) if k], xyz[ok], noisy


def camera_errors(est: Camera, gt: Camera) -> dict:
    """Errors of an estimated camera against ground truth, in the units of the report."""
    f_est, f_gt = (est.K[0, 0] + est.K[1, 1]) / 2, (gt.K[0, 0] + gt.K[1, 1]) / 2
    dR = est.R @ gt.R.T
    ang = float(np.degrees(np.arccos(np.clip((np.trace(dR) - 1) / 2, -1, 1))))
    grid = np.stack(np.meshgrid(np.linspace(0, gt.width - 1, 9), np.linspace(0, gt.height - 1, 6)), -1).reshape(-1, 2)
    rays = cv2.undistortPoints(grid.reshape(-1, 1, 2), gt.K, gt.dist).reshape(-1, 2)
    X = np.hstack([rays, np.ones((len(rays), 1))]) @ gt.R  # points on the GT rays (camera frame -> world dirs)
    X = gt.center + X * 50.0  # 50 m: typical distance to the ball
    uv_est, _ = est.project(X)
    uv_gt, _ = gt.project(X)
    return {"focal_pct": round(float(100 * abs(f_est - f_gt) / f_gt), 4),
            "principal_point_px": round(float(np.linalg.norm(est.K[:2, 2] - gt.K[:2, 2])), 3),
            "centre_cm": round(float(np.linalg.norm(est.center - gt.center) * 100), 3),
            "rotation_deg": round(ang, 4),
            "reprojection_vs_truth_px": round(float(np.sqrt(np.nanmean(np.sum((uv_est - uv_gt) ** 2, axis=1)))), 3)}
