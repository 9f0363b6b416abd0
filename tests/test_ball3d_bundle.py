"""GTSAM ball graph: recovery from perturbed truth, ballistic prior, breaks, gaps, marginals, streaming."""
import numpy as np
import pytest

from ball3d.association import AssocConfig, associate
from ball3d.camera import Camera
from ball3d.evaluation.synth import make_problem
from ball3d.fusion.factors import motion_residual
from ball3d.fusion.graph import BundleConfig, solve, solve_problem
from ball3d.fusion.scipy_baseline import solve_scipy
from ball3d.fusion.streaming import stream


def _rmse(track, truth):
    e = np.linalg.norm(np.asarray(track.xyz) - truth[track.frames], axis=1)
    return float(np.sqrt(np.mean(e ** 2)))


@pytest.fixture(scope="module")
def noisy():
    p = make_problem(n_cameras=3, n_frames=90, noise_px=1.0, false_rate=0.5, occlusion_prob=0.05, seed=11,
                     kick_frame=60)
    return p, associate(p.cameras, p.candidates, AssocConfig())


def test_motion_residual_jacobians_match_finite_differences():
    rng = np.random.default_rng(0)
    x0, x1, x2 = rng.normal(0, 1, (3, 3)) + np.array([[0, 0, 0], [0.4, 0.1, 0.2], [0.8, 0.2, 0.3]])
    for g, drag, roll in ((9.81, 0.013, 0.0), (0.0, 0.013, 0.6)):
        e, J0, J2 = motion_residual(x0, x1, x2, 0.04, g, drag, roll)
        for x, J, which in ((x0, J0, 0), (x2, J2, 2)):
            num = np.zeros((3, 3))
            for k in range(3):
                d = np.zeros(3)
                d[k] = 1e-6
                args = [x0, x1, x2]
                args[which] = x + d
                num[:, k] = (motion_residual(*args, 0.04, g, drag, roll)[0] - e) / 1e-6
            assert np.allclose(num, J, atol=1e-5)


def test_recovers_truth_from_perturbed_start():
    p = make_problem(n_cameras=3, n_frames=40, noise_px=0.0, seed=4)
    assoc = associate(p.cameras, p.candidates, AssocConfig())
    rng = np.random.default_rng(0)
    for f in assoc.fixes:  # start 30 cm away from the truth
        f.xyz = p.xyz[f.frame] + rng.normal(0, 0.3, 3)
    for cfg in (BundleConfig(motion_prior=False), BundleConfig()):
        res = solve(p.cameras, assoc, cfg, p.fps)
        assert len(res.track.frames) == 40
        assert res.error_after < res.error_before
        assert _rmse(res.track, p.xyz) < 0.005  # 5 mm (noise-free pixels; the prior is a model)


def test_motion_prior_beats_per_frame_and_breaks_at_bounces(noisy):
    p, assoc = noisy
    robust = solve(p.cameras, assoc, BundleConfig(motion_prior=False), p.fps)
    smooth = solve(p.cameras, assoc, BundleConfig(), p.fps)
    assert _rmse(smooth.track, p.xyz) < 0.6 * _rmse(robust.track, p.xyz)
    assert _rmse(smooth.track, p.xyz) < 0.03
    assert any(abs(b - 60) <= 1 for b in smooth.breaks)  # the kick cuts the prior
    vz = np.diff(p.xyz[:, 2])
    bounces = [i for i in range(1, len(vz)) if vz[i - 1] < -0.05 and vz[i] > 0.05]
    assert bounces and all(any(abs(b - i) <= 1 for b in smooth.breaks) for i in bounces)


def test_marginals_support_and_residuals(noisy):
    p, assoc = noisy
    tr = solve(p.cameras, assoc, BundleConfig(), p.fps).track
    cov = np.asarray([c for c in tr.cov], float)  # (N, 3, 3)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    assert np.sqrt(cov[:, [0, 1, 2], [0, 1, 2]].max()) < 0.2
    assert all(len(s) == len(r) for s, r in zip(tr.support, tr.meta["residual_px"]))
    assert 0.3 < tr.meta["rms_reprojection_px"] < 3.0


def test_single_view_frames_are_interpolated_or_missing():
    p = make_problem(n_cameras=3, n_frames=60, noise_px=0.5, seed=8)
    for i in (20, 21):  # short gap: only cam0 sees the ball
        for cam in p.cameras[1:]:
            p.candidates[cam.name][i] = np.zeros((0, 3))
    for i in range(35, 45):  # long gap: nobody sees it
        for cam in p.cameras:
            p.candidates[cam.name][i] = np.zeros((0, 3))
    assoc = associate(p.cameras, p.candidates, AssocConfig())
    robust = solve(p.cameras, assoc, BundleConfig(motion_prior=False), p.fps).track
    assert not {20, 21} & set(robust.frames) and {"20", "21"} <= set(robust.meta["missing"])
    smooth = solve(p.cameras, assoc, BundleConfig(max_gap_frames=5), p.fps).track
    assert {20, 21} <= set(smooth.meta["interpolated"])
    i20 = smooth.frames.index(20)
    assert np.linalg.norm(np.asarray(smooth.xyz[i20]) - p.xyz[20]) < 0.1
    assert smooth.support[i20] == ["cam0"]  # the single view joined the bridged frame
    assert not set(range(35, 45)) & set(smooth.frames)  # gap longer than max_gap_frames: missing
    assert all(str(i) in smooth.meta["missing"] for i in range(35, 45))


def test_joint_camera_refinement_lowers_reprojection_error(noisy):
    p, _ = noisy
    rng = np.random.default_rng(2)
    perturbed = []
    for c in p.cameras:  # calibration error: 0.1 deg rotation, 5 cm position
        a = np.deg2rad(0.1) * rng.normal(0, 1, 3)
        Rx = np.array([[1, 0, 0], [0, np.cos(a[0]), -np.sin(a[0])], [0, np.sin(a[0]), np.cos(a[0])]])
        Rz = np.array([[np.cos(a[2]), -np.sin(a[2]), 0], [np.sin(a[2]), np.cos(a[2]), 0], [0, 0, 1]])
        perturbed.append(Camera(c.name, c.K, c.dist, Rz @ Rx @ c.R, c.t + rng.normal(0, 0.05, 3), c.width,
                                c.height, c.fps))
    assoc = associate(perturbed, p.candidates, AssocConfig(gate_px=10.0))
    fixed = solve(perturbed, assoc, BundleConfig(), p.fps)
    joint = solve(perturbed, assoc, BundleConfig(refine_cameras=True), p.fps)
    assert joint.track.meta["rms_reprojection_px"] < fixed.track.meta["rms_reprojection_px"]
    assert joint.cameras[0].meta.get("refined_by") == "bundle"


def test_streaming_fixed_lag_is_better_than_filtered(noisy):
    p, assoc = noisy
    timing = {}
    filt, lag = stream(p.cameras, assoc, BundleConfig(), p.fps, lag_frames=8, timing=timing)
    assert len(filt.frames) >= 85 and timing["update_ms_mean"] > 0 and "update_ms_mean" not in filt.meta
    assert _rmse(lag, p.xyz) < _rmse(filt, p.xyz)
    ransac = np.array([np.linalg.norm(f.xyz - p.xyz[f.frame]) for f in assoc.fixes if f.xyz is not None])
    assert _rmse(lag, p.xyz) < np.sqrt(np.mean(ransac ** 2))


def test_scipy_baseline_solves_the_same_problem():
    p = make_problem(n_cameras=3, n_frames=30, noise_px=1.0, seed=6)
    assoc = associate(p.cameras, p.candidates, AssocConfig())
    cfg = BundleConfig()
    pr = solve(p.cameras, assoc, cfg, p.fps).problem
    Xg = solve_problem(p.cameras, pr, cfg, 1 / p.fps)
    Xs, _ = solve_scipy(p.cameras, pr["frames"], pr["obs"], pr["init"], cfg, 1 / p.fps, pr["broken"],
                           pr["fixed"], max_nfev=200)
    assert np.abs(Xg - Xs).max() < 0.01  # same optimum within 1 cm (loss applied per factor vs per component)


def test_scipy_analytic_jacobian_matches_finite_differences():
    from ball3d.fusion.scipy_baseline import build_problem

    p = make_problem(n_cameras=3, n_frames=12, noise_px=1.0, seed=9)
    assoc = associate(p.cameras, p.candidates, AssocConfig())
    pr = solve(p.cameras, assoc, BundleConfig(), p.fps).problem
    pb = build_problem(p.cameras, pr["frames"], pr["obs"], pr["init"], BundleConfig(), 1 / p.fps, set(), pr["fixed"])
    x = pb.x0.ravel() + 0.01
    J = pb.jacobian(x).toarray()
    num = np.stack([(pb.residuals(x + h) - pb.residuals(x - h)) / 2e-6 for h in np.eye(len(x)) * 1e-6], axis=1)
    assert J.shape == num.shape and np.allclose(J, num, rtol=1e-4, atol=1e-3)


def test_clock_skew_is_estimated_and_corrected():
    p = make_problem(n_cameras=4, n_frames=80, noise_px=1.0, seed=1, kick_frame=55, focal_px=1400.0,
                     skew_max_s=0.015)
    assoc = associate(p.cameras, p.candidates, AssocConfig(gate_px=10.0))
    plain = solve(p.cameras, assoc, BundleConfig(), p.fps)
    fixed = solve(p.cameras, assoc, BundleConfig(estimate_skew=True), p.fps)
    true = np.array([p.meta["skew_s"][c.name] for c in p.cameras])
    est = np.array([fixed.track.meta["skew_s"][c.name] for c in p.cameras])
    assert np.abs(est - (true - true[0])).max() < 0.004  # seconds, relative to camera 0
    assert _rmse(fixed.track, p.xyz) < 0.6 * _rmse(plain.track, p.xyz)


def test_streaming_reverts_a_jump_the_next_frame_does_not_confirm_and_keeps_a_real_kick():
    import copy

    from ball3d.association import FrameFix
    from ball3d.triangulate import project

    p = make_problem(n_cameras=3, n_frames=90, noise_px=0.5, seed=11, kick_frame=60)
    assoc = associate(p.cameras, p.candidates, AssocConfig())
    clean = stream(p.cameras, assoc, BundleConfig(), p.fps, lag_frames=8)[1]
    bad = copy.deepcopy(assoc)
    wrong = p.xyz[30] + np.array([1.5, -1.0, 0.5])  # a look-alike 1.9 m away, seen by two cameras in frame 30
    uv, _ = project(bad.P[:2], wrong[None])
    bad.fixes[30] = FrameFix(30, wrong, [0, 1], uv[0])
    lag = stream(p.cameras, bad, BundleConfig(), p.fps, lag_frames=8)[1]
    err = {f: np.linalg.norm(np.asarray(x) - p.xyz[f]) for f, x in zip(lag.frames, lag.xyz)}
    assert err[30] < 0.1 and max(err[f] for f in range(31, 40) if f in err) < 0.1  # bridged, the chain follows the ball
    assert list(lag.meta["reverted"]) == ["30"] and "not confirmed by frame 31" in lag.meta["reverted"]["30"]
    assert "reverted" not in clean.meta  # the kick at frame 60 is confirmed by the frames after it
    assert _rmse(clean, p.xyz) < 0.05
