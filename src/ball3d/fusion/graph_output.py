"""Turn a solved ball graph into a Track3D: marginal covariances, support, residuals, missing frames."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import gtsam
import numpy as np

from ball3d.association import Association
from ball3d.camera import Camera
from ball3d.records import Track3D
from ball3d.triangulate import project

from .factors import C, K, X

log = logging.getLogger(__name__)


@dataclass
class BundleResult:
    track: Track3D
    error_before: float
    error_after: float
    breaks: list[int] = field(default_factory=list)  # middle frames of removed motion factors
    cameras: list[Camera] = field(default_factory=list)  # refined (or unchanged) cameras
    problem: dict = field(default_factory=dict)  # inputs of the final solve (frames, obs, init, broken, fixed)


def refined_cameras(cameras: list[Camera], result, refine: bool) -> list[Camera]:
    if not refine:
        return list(cameras)
    out = []
    for j, cam in enumerate(cameras):
        pose, cal = result.atPose3(C(j)), result.atCal3_S2(K(j))
        R = pose.rotation().matrix().T  # world -> camera
        out.append(Camera(cam.name, cal.K(), cam.dist, R, -R @ pose.translation(), cam.width, cam.height,
                          cam.fps, meta={**cam.meta, "refined_by": "bundle"}))
    return out


def marginal_covariances(graph, result, frames) -> dict[int, np.ndarray]:
    """(3, 3) covariance in m^2 of every X(i); empty when the system is singular."""
    try:
        marginals = gtsam.Marginals(graph, result)
        return {int(i): marginals.marginalCovariance(X(int(i))) for i in frames}
    except RuntimeError as exc:  # indeterminant system: report no covariance rather than a wrong one
        log.warning("marginals unavailable: %s", exc)
        return {}


def _missing_reasons(assoc: Association, kept: set, frames: set) -> dict[str, str]:
    out = {}
    for f in assoc.fixes:
        if f.frame in kept:
            continue
        if f.frame in frames:
            out[str(f.frame)] = "bridged by the motion prior but too uncertain"
        else:
            out[str(f.frame)] = f.reason or "outside every solved segment"
    return out


def assemble(cameras, assoc: Association, cfg, solved, frames, obs, broken, before, after, fixed):
    """Build the BundleResult of bundle.solve (``solved`` is (graph, values) or None)."""
    method = "graph_smoothed" if cfg.motion_prior else "graph_robust"
    if solved is None:
        track = Track3D([], [], [], [], method, meta={"missing": _missing_reasons(assoc, set(), set()),
                                                      "interpolated": [], "residual_px": []})
        return BundleResult(track, 0.0, 0.0, [], list(cameras))
    graph, result = solved
    cams = refined_cameras(cameras, result, cfg.refine_cameras)
    P = np.stack([c.P for c in cams])  # (V, 3, 4)
    covs = marginal_covariances(graph, result, frames)
    out_f, xyz, cov, support, resid, interp = [], [], [], [], [], []
    for i in (int(i) for i in frames):
        c = covs.get(i)
        std = float(np.sqrt(np.max(np.linalg.eigvalsh(c)))) if c is not None else np.inf
        if i not in fixed and (std > cfg.max_std_m or any(b in broken for b in (i - 1, i, i + 1))):
            continue  # a bridged frame the prior cannot pin down (or a bounce in the gap): missing
        x = result.atPoint3(X(i))
        rows = obs.get(i, [])
        uv_hat, _ = project(P[[j for j, _ in rows]], x[None]) if rows else (np.zeros((1, 0, 2)), None)
        out_f.append(i)
        xyz.append(x.tolist())
        cov.append(c.tolist() if c is not None else None)
        support.append([cams[j].name for j, _ in rows])
        resid.append([float(np.linalg.norm(uv_hat[0, n] - uv)) for n, (_, uv) in enumerate(rows)])
        if i not in fixed:
            interp.append(i)
    all_res = np.array([r for rr in resid for r in rr])
    meta = {"missing": _missing_reasons(assoc, set(out_f), {int(i) for i in frames}),
            "interpolated": interp, "residual_px": resid, "breaks": sorted(broken),
            "rms_reprojection_px": float(np.sqrt(np.mean(all_res ** 2))) if len(all_res) else None,
            "error_before": float(before), "error_after": float(after)}
    track = Track3D(out_f, xyz, cov, support, method, meta)
    log.info("%s: %d frames solved (%d interpolated), %d missing, rms reprojection %s px", method,
             len(out_f), len(interp), len(meta["missing"]), meta["rms_reprojection_px"])
    return BundleResult(track, float(before), float(after), sorted(broken), cams)
