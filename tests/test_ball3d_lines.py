"""Camera pose from the painted pitch lines (ball3d.linereg): line mask, pose recovery, failures."""
from __future__ import annotations

import copy
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from ball3d.calibration.calibrate import camera_errors
from ball3d.calibration.linereg import (
    align_camera,
    dense_model,
    line_evidence,
    project,
    visible_points,
)
from ball3d.camera import Camera, look_at
from ball3d.pitch import ground_texture, line_polylines
from ball3d.scenes.render import render_background
from pipeutil.io import PipelineError

ROOT = Path(__file__).resolve().parents[1]
W, H = 640, 360


def lines_cfg(**over) -> dict:
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text())["calibrate"]["lines"])
    cfg.update(over)
    return cfg


def gt_camera() -> Camera:
    R, t = look_at([-58.0, -46.0, 17.0], [-22.0, -16.5, 0.0])
    f = 1400 * W / 1920
    return Camera("cam0", K=[[f, 0, W / 2 - 2.6], [0, f, H / 2 + 1.7], [0, 0, 1]], dist=[-0.08, 0.02, 0, 0, 0],
                  R=R, t=t, width=W, height=H)


@pytest.fixture(scope="module")
def plate() -> np.ndarray:
    """A rendered empty pitch with sensor-like noise (what the temporal median of a video gives)."""
    img = render_background(gt_camera(), ground_texture(0.04, seed=4)).astype(np.float32)
    img += np.random.default_rng(0).normal(0, 2.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def model_raster(cam: Camera, step_m: float = 0.02) -> np.ndarray:
    """(H, W) bool: the pitch markings drawn 1 px wide with the true camera."""
    out = np.zeros((cam.height, cam.width), np.uint8)
    for pl in line_polylines():
        dense = np.concatenate([np.linspace(a, b, max(2, int(np.linalg.norm(b - a) / step_m)))
                                for a, b in pairwise(pl)])
        uv, z = cam.project(np.hstack([dense, np.zeros((len(dense), 1))]))
        ok = (z > 1) & np.all(np.isfinite(uv), axis=1)
        ui = np.round(uv[ok]).astype(int)
        inside = (ui[:, 0] >= 0) & (ui[:, 0] < cam.width) & (ui[:, 1] >= 0) & (ui[:, 1] < cam.height)
        out[ui[inside, 1], ui[inside, 0]] = 1
    return out.astype(bool)


def test_line_mask_matches_the_projected_pitch_markings(plate):
    cam = gt_camera()
    sc = W / 1920
    ev = line_evidence(plate, max(3, round(15 * sc)), 4.0, 0.25, round(61 * sc))
    model = model_raster(cam)
    d_model = cv2.distanceTransform((~model).astype(np.uint8), cv2.DIST_L2, 5)
    d_mask = cv2.distanceTransform((~ev.mask).astype(np.uint8), cv2.DIST_L2, 5)
    precision = float(np.mean(d_model[ev.mask] <= 2.0))
    recall = float(np.mean(d_mask[model] <= 2.0))
    assert ev.mask.sum() > 500
    assert precision > 0.85, precision  # measured 0.94
    assert recall > 0.85, recall  # measured 0.97


def _perturbed(cam: Camera, shift_m: float, turn_deg: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    dR = cv2.Rodrigues(axis / np.linalg.norm(axis) * np.radians(turn_deg))[0]
    d = rng.normal(size=3)
    C = cam.center + d / np.linalg.norm(d) * shift_m
    R = dR @ cam.R
    return R, -R @ C


def test_pose_recovered_from_a_start_one_metre_and_one_degree_off(plate):
    gt = gt_camera()
    R0, t0 = _perturbed(gt, 1.0, 1.0)
    start = camera_errors(Camera("cam0", gt.K, gt.dist, R0, t0, W, H), gt)
    assert start["rotation_deg"] > 0.9 and start["centre_cm"] > 90
    fit = align_camera(plate, gt.K, gt.dist, R0, t0, lines_cfg(), "cam0")
    err = camera_errors(Camera("cam0", gt.K, gt.dist, fit.R, fit.t, W, H), gt)
    assert err["centre_cm"] < 15 and err["rotation_deg"] < 0.15, err  # measured 9.9 cm, 0.10 deg
    assert fit.residual_px < 0.6 and fit.n_points > 500 and fit.inlier_frac > 0.7
    assert 0.5 < fit.moved_m < 2.0


def test_a_frame_of_pure_grass_is_an_error_naming_the_camera():
    rng = np.random.default_rng(2)
    grass = np.clip(np.array([40, 120, 50], np.float32) + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    grass = cv2.GaussianBlur(grass, (0, 0), 0.7)
    gt = gt_camera()
    with pytest.raises(PipelineError, match="camera 'camG'.*line pixels.*landmarks_px.json"):
        align_camera(grass, gt.K, gt.dist, gt.R, gt.t, lines_cfg(), "camG")


def test_a_start_thirty_metres_off_is_an_error_not_a_bad_camera(plate):
    gt = gt_camera()
    R0, t0 = look_at(gt.center + np.array([30.0, 0.0, 0.0]), [8.0, -16.5, 0.0])
    with pytest.raises(PipelineError, match="camera 'cam0': pitch-line alignment failed"):
        align_camera(plate, gt.K, gt.dist, R0, t0, lines_cfg(), "cam0")


def test_a_start_trapped_in_a_wrong_minimum_restarts_around_it(plate, monkeypatch):
    """test_3005 cam2 of the default run: a centre 3.3 m off the nominal one trapped the alignment (residual
    1.8 px, 42 % of the line pixels explained); restarting 2 m around it recovered the pose (0.6 cm). Here the
    trap is forced: the fit from the initial centre fails its checks; a restart must win, or, with restarts
    off or all failing, the error names the camera and calibrate.lines.restart_step_m."""
    import ball3d.calibration.linereg as LR

    gt = gt_camera()
    R0, t0 = _perturbed(gt, 1.0, 1.0)
    real, starts = LR._align_from, []

    def trapped(plate_, K, dist, R, t, cfg, camera, origin=None):
        starts.append(-R.T @ t)
        if np.allclose(-R.T @ t, -R0.T @ t0):
            raise LR._CheckFailed(f"camera {camera!r}: pitch-line alignment failed: forced trap")
        return real(plate_, K, dist, R, t, cfg, camera, origin)

    monkeypatch.setattr(LR, "_align_from", trapped)
    fit = align_camera(plate, gt.K, gt.dist, R0, t0, lines_cfg(restart_step_m=2.0), "cam0")
    err = camera_errors(Camera("cam0", gt.K, gt.dist, fit.R, fit.t, W, H), gt)
    assert fit.restart >= 1 and fit.summary()["line_restart"] == fit.restart
    assert err["centre_cm"] < 15 and err["rotation_deg"] < 0.15, err
    assert len(starts) == 11 and np.allclose(np.linalg.norm(np.array(starts[1:]) - starts[0], axis=1), 2.0)
    assert 0.5 < fit.moved_m < 4.0  # measured from the initial guess, not from the restart centre
    with pytest.raises(PipelineError, match="camera 'cam0': pitch-line alignment failed: forced trap$"):
        align_camera(plate, gt.K, gt.dist, R0, t0, lines_cfg(restart_step_m=0.0), "cam0")
    monkeypatch.setattr(LR, "_align_from", lambda *a, **k: (_ for _ in ()).throw(LR._CheckFailed("camera 'cam0': x")))
    with pytest.raises(PipelineError, match=r"also from 10 restarts 2 m around .*restart_step_m"):
        align_camera(plate, gt.K, gt.dist, R0, t0, lines_cfg(restart_step_m=2.0), "cam0")


def test_dense_model_covers_every_marking_on_the_ground():
    X = dense_model(0.25)
    assert np.all(X[:, 2] == 0)
    total = sum(np.linalg.norm(np.diff(pl, axis=0), axis=1).sum() for pl in line_polylines())
    assert len(X) == pytest.approx(total / 0.25, rel=0.05)
    gt = gt_camera()
    vis = visible_points(X, gt.R, gt.t, gt.K, gt.dist, (W, H), 2.0)
    uv = project(vis, gt.R, gt.t, gt.K, gt.dist)
    assert len(vis) > 500 and np.all((uv >= 2) & (uv <= [W - 3, H - 3]))
