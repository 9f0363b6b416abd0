"""Linear and nonlinear triangulation on undistorted pixels.

Detections arrive in distorted pixel coordinates; ``undistort`` maps them to the ideal pinhole
image of the same camera (cv2.undistortPoints with P=K), where projection is the linear
``Camera.P``. All functions here are pure numpy (plus cv2 for undistortion / the 2-view DLT
reference) so that the per-frame fusion stays well under a millisecond.
"""
from __future__ import annotations

import cv2
import numpy as np

from .camera import Camera


def undistort(cam: Camera, uv: np.ndarray) -> np.ndarray:
    """Distorted pixels (N, 2) -> undistorted pixels (N, 2) of the same camera (P = K)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    if len(uv) == 0 or not np.any(cam.dist):
        return uv.copy()
    # iterative solver; 20 iterations are exact to << 0.01 px for football lens distortion
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-9)
    out = cv2.undistortPoints(uv.reshape(-1, 1, 2), cam.K, cam.dist, None, None, cam.K, crit)
    return out.reshape(-1, 2)


def project(P: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projection matrices (V, 3, 4), points (M, 3) -> pixels (M, V, 2) and depths (M, V)."""
    Xh = np.concatenate([X, np.ones((len(X), 1))], axis=1)  # (M, 4)
    x = np.einsum("vij,mj->mvi", P, Xh)  # (M, V, 3)
    z = x[..., 2:3]
    uv = x[..., :2] / np.where(np.abs(z) < 1e-12, 1e-12, z)  # (M, V, 2); depth <= 0 is handled by callers
    return uv, x[..., 2]


def depth_sign(P: np.ndarray) -> np.ndarray:
    """(V,) +1/-1 so that sign * P[2] @ Xh is the metric depth (P = K [R|t] with det(K R) > 0)."""
    return np.sign(np.linalg.det(P[:, :, :3]))


def dlt(P: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Batched N-view linear triangulation: P (M, V, 3, 4), uv (M, V, 2) -> X (M, 3).

    Inhomogeneous DLT (w = 1, least squares through 3x3 normal equations, much faster than a
    batched SVD); rows are normalised so views far away do not dominate.
    """
    a = uv[..., 0:1] * P[..., 2, :] - P[..., 0, :]  # (M, V, 4)
    b = uv[..., 1:2] * P[..., 2, :] - P[..., 1, :]  # (M, V, 4)
    A = np.concatenate([a, b], axis=-2)  # (M, 2V, 4)
    A = A / np.linalg.norm(A[..., :3], axis=-1, keepdims=True)
    M = A[..., :3]  # (M, 2V, 3)
    MtM = np.einsum("mki,mkj->mij", M, M)  # (M, 3, 3)
    Mtb = -np.einsum("mki,mk->mi", M, A[..., 3])  # (M, 3)
    det = np.linalg.det(MtM)  # (M,)
    ok = np.abs(det) > 1e-15  # parallel rays: no intersection
    X = np.full((len(A), 3), np.nan)
    X[ok] = np.linalg.solve(MtM[ok], Mtb[ok][..., None])[..., 0]
    return X


def dlt_cv2(P1: np.ndarray, P2: np.ndarray, uv1: np.ndarray, uv2: np.ndarray) -> np.ndarray:
    """Reference two-view DLT with cv2.triangulatePoints: (N, 2) each -> (N, 3)."""
    Xh = cv2.triangulatePoints(P1, P2, np.asarray(uv1, float).T, np.asarray(uv2, float).T)  # (4, N)
    return (Xh[:3] / Xh[3]).T


def refine(P: np.ndarray, uv: np.ndarray, X0: np.ndarray, iters: int = 3) -> np.ndarray:
    """Gauss-Newton on the reprojection error of one point: P (V, 3, 4), uv (V, 2), X0 (3,)."""
    X = np.asarray(X0, float).copy()
    for _ in range(iters):
        x = P[:, :, :3] @ X + P[:, :, 3]  # (V, 3)
        r = (x[:, :2] / x[:, 2:3] - uv).reshape(-1)  # (2V,)
        J = (P[:, :2, :3] * x[:, 2:3, None] - x[:, :2, None] * P[:, 2:3, :3]) / (x[:, 2:3, None] ** 2)  # (V, 2, 3)
        J = J.reshape(-1, 3)  # (2V, 3)
        JtJ = J.T @ J  # (3, 3)
        if abs(np.linalg.det(JtJ)) < 1e-30:  # degenerate (one view): keep the current point
            break
        step = np.linalg.solve(JtJ, -J.T @ r)  # (3,)
        X += step
        if step @ step < 1e-12:
            break
    return X


def triangulate(P: np.ndarray, uv: np.ndarray, nonlinear: bool = True) -> np.ndarray:
    """N-view triangulation of one point: DLT, then (optionally) reprojection-error refinement."""
    X = dlt(P[None], uv[None])[0]
    return refine(P, uv, X) if nonlinear and np.all(np.isfinite(X)) else X


def reprojection_px(P: np.ndarray, uv: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Per-view reprojection error (V,) in pixels of point X (3,)."""
    proj, _ = project(P, X[None])  # (1, V, 2)
    return np.linalg.norm(proj[0] - uv, axis=1)
