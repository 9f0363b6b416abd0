"""Scene generator: physics, rig, rendering ground truth, determinism and splits."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from ball3d.camera import Camera, look_at
from ball3d.pitch import landmarks
from ball3d.rig import make_rig, undistort_grid
from ball3d.scenes.generate import generate_scene, scene_specs
from ball3d.scenes.physics import BallPhysics, _step, simulate_ball
from ball3d.scenes.render import render_frame
from ball3d.videoio import iter_frames, probe_video
from pipeutil.io import PipelineError

ROOT = Path(__file__).resolve().parents[1]


def scenes_cfg(**over) -> dict:
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text())["scenes"])
    cfg.update(width=192, height=108, n_frames=6)
    cfg["cameras"]["count"] = 2
    cfg["calib_video"]["n_frames"] = 3
    cfg.update(over)
    return cfg


def test_ball_drop_bounces_with_restitution():
    phys = BallPhysics(drag_coeff=0.0, restitution=0.6)
    p, v = np.array([0.0, 0.0, 5.0]), np.zeros(3)
    dt, zs = 1e-4, []
    for _ in range(30000):
        p, v = _step(p, v, dt, phys)
        zs.append(p[2])
    zs = np.array(zs)
    assert zs.min() >= phys.radius_m - 1e-9
    first_bounce = np.argmax(np.diff(zs) > 0)
    peak = zs[first_bounce:first_bounce + 15000].max()
    expected = phys.radius_m + 0.36 * (5.0 - phys.radius_m)  # e^2 of the drop height
    assert peak == pytest.approx(expected, rel=0.02)


def test_rolling_ball_stops():
    phys = BallPhysics(rolling_decel=1.0)
    p, v = np.array([0.0, 0.0, phys.radius_m]), np.array([3.0, 0.0, 0.0])
    for _ in range(5000):  # 5 s
        p, v = _step(p, v, 1e-3, phys)
    assert np.linalg.norm(v) < 1e-6
    assert p[0] == pytest.approx(4.5, abs=0.05)  # v^2 / (2 a)


def test_drag_slows_a_kick():
    traj = simulate_ball(np.random.default_rng(0), 2.0, 1e-3, BallPhysics(kick_rate_hz=1e-6))
    speeds = np.linalg.norm(np.diff(traj.xyz, axis=0), axis=1) / 1e-3
    assert speeds[5] > speeds[-5]


def test_splits_are_disjoint_and_overlap_is_rejected():
    cfg = scenes_cfg()
    specs = scene_specs(cfg)
    assert len({s.seed for s in specs}) == len(specs)
    cfg["splits"]["val"] = {"count": 2, "first_seed": cfg["splits"]["train"]["first_seed"]}
    with pytest.raises(PipelineError, match="used by both"):
        scene_specs(cfg)


def test_undistort_grid_inverts_the_lens():
    cfg = scenes_cfg()
    cam = make_rig(cfg["cameras"], 640, 360, 25.0, np.random.default_rng(1))[0]
    cam.dist[:2] = [-0.12, 0.03]
    xs, ys = undistort_grid(cam, step=2)
    X = np.array([[0.3, -0.2, 1.0], [-0.5, 0.25, 1.0]]) @ cam.R + cam.center  # points on two camera rays
    uv, _ = cam.project(X)
    for (u, v), (x, y) in zip(uv, [(0.3, -0.2), (-0.5, 0.25)]):
        iu, iv = int(round(u)), int(round(v))
        # the grid at the nearest pixel centre equals the undistorted coordinate up to the sub-pixel offset
        assert xs[iv, iu] == pytest.approx(x, abs=2.0 / cam.K[0, 0])
        assert ys[iv, iu] == pytest.approx(y, abs=2.0 / cam.K[0, 0])


def _test_camera() -> Camera:
    R, t = look_at([0, -30, 10], [0, 0, 0])
    return Camera("c", K=[[800, 0, 320], [0, 800, 180], [0, 0, 1]], dist=np.zeros(5), R=R, t=t, width=640, height=360)


def test_occluding_player_hides_the_ball():
    cam = _test_camera()
    bg = np.full((360, 640, 3), 60, np.uint8)
    ball = np.array([[0.0, 0.0, 0.11]])
    img, free = render_frame(cam, bg, ball, 0.11, np.zeros((0, 2)), np.zeros(0, int), np.zeros(0))
    assert free.visible_fraction == pytest.approx(1.0, abs=0.02)
    u, v = np.round(free.uv).astype(int)
    assert img[v, u].mean() > 150  # a bright ball on a dark background
    player = np.array([[0.0, -3.0]])  # between the camera and the ball
    _, hidden = render_frame(cam, bg, ball, 0.11, player, np.array([0]), np.array([1.8]))
    assert hidden.visible_fraction < 0.05


def test_motion_blur_streak_length():
    cam = _test_camera()
    bg = np.zeros((360, 640, 3), np.uint8)
    sub = np.array([[x, 0.0, 0.11] for x in np.linspace(-0.5, 0.5, 7)])
    _, br = render_frame(cam, bg, sub, 0.11, np.zeros((0, 2)), np.zeros(0, int), np.zeros(0))
    uv, _ = cam.project(sub[[0, -1]])
    assert br.blur_px == pytest.approx(np.linalg.norm(uv[1] - uv[0]), rel=1e-6)
    assert br.blur_px > 20


def test_generate_scene_writes_videos_and_consistent_truth(tmp_path):
    cfg = scenes_cfg()
    spec = scene_specs(cfg)[0]
    truth = generate_scene(spec, cfg, tmp_path / "s")
    saved = json.loads((tmp_path / "s" / "truth.json").read_text())
    assert saved["scene_id"] == spec.scene_id and saved["n_frames"] == 6
    assert len(saved["landmarks"]["names"]) == len(landmarks().names)
    xyz = np.array(saved["ball_xyz"])
    assert xyz.shape == (6, 3) and np.all(xyz[:, 2] >= cfg["ball"]["radius_m"] - 1e-6)
    for c in saved["cameras"]:
        cam = Camera.from_dict(c)
        pc = saved["per_camera"][cam.name]
        info = probe_video(tmp_path / "s" / pc["video"])
        assert (info.width, info.height, info.n_frames) == (192, 108, 6)
        assert len(list(iter_frames(tmp_path / "s" / pc["calib_video"]))) == 3
        uv, _ = cam.project(xyz)
        for f, p in enumerate(pc["uv"]):
            if p is not None:
                assert np.allclose(p, uv[f], atol=1e-2)
    again = generate_scene(spec, cfg, tmp_path / "s2")
    assert again["ball_xyz"] == truth["ball_xyz"] and again["per_camera"] == truth["per_camera"]
    for f in sorted((tmp_path / "s").iterdir()):  # byte-reproducible: DVC hashes stay stable
        assert f.read_bytes() == (tmp_path / "s2" / f.name).read_bytes(), f.name


def test_dribbling_touches_stay_on_the_ground_and_chasers_orbit():
    from ball3d.scenes.physics import _kick, simulate_players

    rng = np.random.default_rng(0)
    phys = BallPhysics(dribble_prob=1.0, dribble_speed=(2.0, 6.0))
    for _ in range(20):
        v = _kick(rng, np.zeros(3), phys)
        assert v[2] == 0.0 and 2.0 <= np.hypot(v[0], v[1]) <= 6.0
    lofted = [_kick(rng, np.zeros(3), BallPhysics(dribble_prob=0.0))[2] for _ in range(20)]
    assert max(lofted) > 1.0  # ordinary kicks still leave the ground
    ball = np.zeros((50, 2))  # a ball at rest: chasers settle at their spots, which turn around it
    fixed = simulate_players(np.random.default_rng(1), 4, 4, ball, 25.0, 8.0, orbit_rad_s=0.0)
    turning = simulate_players(np.random.default_rng(1), 4, 4, ball, 25.0, 8.0, orbit_rad_s=1.5)
    ang = lambda xy: np.arctan2(xy[:, :, 1], xy[:, :, 0])  # noqa: E731  (T, P) bearing from the ball
    assert np.allclose(ang(fixed.xy)[-1], ang(fixed.xy)[-5], atol=1e-6)  # at rest at a fixed spot
    assert np.abs(np.angle(np.exp(1j * (ang(turning.xy)[-1] - ang(turning.xy)[-5])))).max() > 0.05
