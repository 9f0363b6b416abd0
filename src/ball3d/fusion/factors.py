"""GTSAM building blocks of the ball factor graph: keys, noise models, projection and ballistic factors.

Keys: X(i) ball centre at frame i (Point3, metres); C(j) pose of camera j (Pose3, camera to
world); K(j) intrinsics of camera j (Cal3_S2). Measurements are undistorted pixels, so the
linear Cal3_S2 model is exact.
"""
from __future__ import annotations

import math

import gtsam
import numpy as np
from gtsam.symbol_shorthand import C, K, X

from ball3d.camera import Camera

_I3 = np.eye(3)
_M2I3 = -2.0 * np.eye(3)

__all__ = [
    "C",
    "K",
    "X",
    "ballistic_factor",
    "cal_of",
    "camera_priors",
    "motion_residual",
    "pixel_noise",
    "pose_of",
    "projection_factor",
]


def pose_of(cam: Camera) -> gtsam.Pose3:
    """Camera-to-world pose (GTSAM convention) from the world-to-camera R, t of ``Camera``."""
    return gtsam.Pose3(gtsam.Rot3(cam.R.T), cam.center)


def cal_of(cam: Camera) -> gtsam.Cal3_S2:
    Km = cam.K
    return gtsam.Cal3_S2(Km[0, 0], Km[1, 1], Km[0, 1], Km[0, 2], Km[1, 2])


def robustify(base: gtsam.noiseModel.Base, kind: str, k: float) -> gtsam.noiseModel.Base:
    """Wrap ``base`` in a Huber or Cauchy M-estimator (threshold ``k`` in whitened units)."""
    if kind == "none":
        return base
    est = {"huber": gtsam.noiseModel.mEstimator.Huber, "cauchy": gtsam.noiseModel.mEstimator.Cauchy}[kind]
    return gtsam.noiseModel.Robust.Create(est.Create(k), base)


def pixel_noise(sigma_px: float, kind: str, k: float) -> gtsam.noiseModel.Base:
    # sigma_px: detection noise, pixels (undistorted image), isotropic in u and v
    return robustify(gtsam.noiseModel.Isotropic.Sigma(2, sigma_px), kind, k)


def projection_factor(cam: Camera, j: int, frame: int, uv: np.ndarray, noise, refine_cameras: bool):
    """One detection of the ball at ``frame`` by camera ``j``.

    Fixed cameras: TriangulationFactor (the camera is a constant, only X(frame) is unknown).
    Refined cameras: GeneralSFMFactor2 (pose C(j) and intrinsics K(j) are unknowns too).
    """
    uv = np.asarray(uv, dtype=float).reshape(2)
    if refine_cameras:
        return gtsam.GeneralSFMFactor2Cal3_S2(uv, noise, C(j), X(frame), K(j))
    camera = gtsam.PinholeCameraCal3_S2(pose_of(cam), cal_of(cam))
    return gtsam.TriangulationFactorCal3_S2(camera, uv, noise, X(frame))


def camera_priors(cam: Camera, j: int, rot_sigma_rad: float, pos_sigma_m: float,
                  calib_sigma_px: float) -> list:
    """Priors that tie camera j to its calibration.

    Gauge: ball-only observations leave a 7-DOF similarity of the whole scene free; priors on
    every pose and intrinsics (from the calibrate phase) remove it and keep cameras near truth.
    """
    # rot_sigma_rad: radians on each rotation axis; pos_sigma_m: metres on each axis
    pose_noise = gtsam.noiseModel.Diagonal.Sigmas(np.r_[[rot_sigma_rad] * 3, [pos_sigma_m] * 3])
    # calib_sigma_px: pixels on fx, fy, skew, u0, v0
    cal_noise = gtsam.noiseModel.Isotropic.Sigma(5, calib_sigma_px)
    return [gtsam.PriorFactorPose3(C(j), pose_of(cam), pose_noise),
            gtsam.PriorFactorCal3_S2(K(j), cal_of(cam), cal_noise)]


def motion_residual(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray, dt: float, g: float, drag: float,
                    roll: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Second difference minus the ballistic prediction, and its Jacobians w.r.t. x0 and x2.

    e = x2 - 2 x1 + x0 - dt^2 a(v),  v = (x2 - x0) / (2 dt),
    a(v) = (0, 0, -g) - drag |v| v - roll v / |v|   (roll: rolling resistance on the ground, m/s^2).
    (The Jacobian w.r.t. x1 is -2 I.)
    """
    v = (x2 - x0) / (2 * dt)
    speed = math.sqrt(v @ v)
    if speed < 1e-9:
        return x2 - 2 * x1 + x0 + dt * dt * np.array([0.0, 0.0, g]), _I3, _I3
    coef = drag * speed + roll / speed  # a = gvec - coef * v
    e = x2 - 2 * x1 + x0 + dt * dt * (coef * v + np.array([0.0, 0.0, g]))
    vv = np.outer(v, v) / (speed * speed)
    da = drag * speed * (_I3 + vv) + roll / speed * (_I3 - vv)  # -d a / d v
    half = 0.5 * dt * da
    return e, _I3 - half, _I3 + half


def ballistic_factor(i0: int, i1: int, i2: int, dt: float, accel_sigma: float, g: float, drag: float,
                     kind: str, k: float, roll: float = 0.0) -> gtsam.CustomFactor:
    """Constant-acceleration (gravity + optional drag) prior over three consecutive frames.

    A robust loss lets bounces and kicks break it; bundle.py also removes the factors whose
    whitened residual says a bounce or a kick happened there.
    """
    # accel_sigma: m/s^2 of unmodelled acceleration -> sigma of the second difference in metres
    noise = robustify(gtsam.noiseModel.Isotropic.Sigma(3, accel_sigma * dt * dt), kind, k)

    def error(this: gtsam.CustomFactor, values: gtsam.Values, H: list | None) -> np.ndarray:
        keys = this.keys()
        x0, x1, x2 = (values.atPoint3(key) for key in keys)
        e, J0, J2 = motion_residual(x0, x1, x2, dt, g, drag, roll)
        if H is not None:
            H[0], H[1], H[2] = J0, _M2I3, J2
        return e

    return gtsam.CustomFactor(noise, [X(i0), X(i1), X(i2)], error)
