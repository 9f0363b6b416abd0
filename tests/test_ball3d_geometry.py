"""Triangulation and cross-camera association on synthetic problems with exact truth."""
import numpy as np
import pytest

from ball3d.association import AssocConfig, associate, pad_candidates
from ball3d.evaluation.synth import make_problem
from ball3d.triangulate import dlt, dlt_cv2, refine, reprojection_px, undistort
from pipeutil.io import PipelineError


@pytest.fixture(scope="module")
def clean():
    return make_problem(n_cameras=3, n_frames=40, noise_px=0.0, seed=3)


def test_undistort_inverts_the_camera_distortion(clean):
    cam = clean.cameras[0]
    u, v = np.meshgrid(np.linspace(50, 1870, 8), np.linspace(50, 1030, 6))
    rays = np.linalg.inv(cam.K) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])  # (3, N) camera frame
    X = (cam.R.T @ (rays * 40.0 - cam.t[:, None])).T  # points 40 m in front of the camera, world frame
    distorted, _ = cam.project(X)
    ideal, _ = cam.project(X, distort=False)
    assert np.abs(distorted - ideal).max() > 5.0  # the lens really distorts near the corners
    assert np.abs(undistort(cam, distorted) - ideal).max() < 1e-3


def test_dlt_is_exact_without_noise_and_matches_cv2(clean):
    P = np.stack([c.P for c in clean.cameras])  # (V, 3, 4)
    uv = np.stack([c.project(clean.xyz, distort=False)[0] for c in clean.cameras], axis=1)  # (T, V, 2)
    X = dlt(np.broadcast_to(P, (len(uv),) + P.shape), uv)
    assert np.abs(X - clean.xyz).max() < 1e-8
    uv_noisy = uv + np.random.default_rng(0).normal(0, 2.0, uv.shape)
    ours = dlt(np.broadcast_to(P[:2], (len(uv), 2, 3, 4)), uv_noisy[:, :2])
    ref = dlt_cv2(P[0], P[1], uv_noisy[:, 0], uv_noisy[:, 1])
    assert np.abs(ours - ref).max() < 0.05  # same algorithm up to row weighting (metres, 2 px noise)


def test_refine_lowers_reprojection_error(clean):
    P = np.stack([c.P for c in clean.cameras])
    rng = np.random.default_rng(1)
    uv = np.stack([c.project(clean.xyz[5:6], distort=False)[0][0] for c in clean.cameras]) + rng.normal(0, 3, (3, 2))
    X0 = dlt(P[None], uv[None])[0]
    X1 = refine(P, uv, X0)
    assert np.sum(reprojection_px(P, uv, X1) ** 2) < np.sum(reprojection_px(P, uv, X0) ** 2)


def test_association_rejects_false_detections_and_keeps_true_ones():
    p = make_problem(n_cameras=4, n_frames=60, noise_px=1.0, false_rate=2.0, occlusion_prob=0.2, seed=5)
    assoc = associate(p.cameras, p.candidates, AssocConfig())
    solved = [f for f in assoc.fixes if f.xyz is not None]
    assert len(solved) >= 50
    for f in solved:  # every accepted detection is the (noisy) true ball, never a false one
        for j, uv in zip(f.cams, f.uv):
            true = p.true_uv[p.cameras[j].name][f.frame]
            assert np.all(np.isfinite(true))
            ideal = p.cameras[j].project(p.xyz[f.frame], distort=False)[0][0]
            assert np.linalg.norm(uv - ideal) < 6.0
    err = np.array([np.linalg.norm(f.xyz - p.xyz[f.frame]) for f in solved])
    assert np.sqrt(np.mean(err ** 2)) < 0.06


def test_frame_seen_by_one_camera_is_missing_not_invented():
    p = make_problem(n_cameras=3, n_frames=20, noise_px=0.5, seed=2)
    for cam in p.cameras[1:]:  # frame 7: only cam0 sees the ball
        p.candidates[cam.name][7] = np.zeros((0, 3))
    assoc = associate(p.cameras, p.candidates, AssocConfig())
    assert assoc.fixes[7].xyz is None and "1 camera" in assoc.fixes[7].reason
    assert assoc.summary()["missing_by_reason"]


def test_camera_without_any_detection_is_tolerated():
    p = make_problem(n_cameras=3, n_frames=20, noise_px=0.5, seed=2)
    p.candidates["cam2"] = [np.zeros((0, 3)) for _ in range(20)]
    assoc = associate(p.cameras, p.candidates, AssocConfig())
    assert all(2 not in f.cams for f in assoc.fixes if f.xyz is not None)
    assert sum(f.xyz is not None for f in assoc.fixes) >= 18


def test_bad_detections_are_clear_errors():
    p = make_problem(n_cameras=2, n_frames=10, seed=0)
    with pytest.raises(PipelineError, match="no calibration"):
        pad_candidates(p.cameras, {**p.candidates, "camX": p.candidates["cam0"]})
    with pytest.raises(PipelineError, match="number of frames"):
        pad_candidates(p.cameras, {"cam0": p.candidates["cam0"], "cam1": p.candidates["cam1"][:5]})
    bad = [a.copy() for a in p.candidates["cam0"]]
    bad[0] = np.array([[np.nan, 1.0, 0.5]])
    with pytest.raises(PipelineError, match="finite"):
        pad_candidates(p.cameras, {"cam0": bad, "cam1": p.candidates["cam1"]})


def test_candidates_are_sorted_by_score_whatever_the_file_order():
    p = make_problem(n_cameras=2, n_frames=3, false_rate=2.0, seed=1)
    shuffled = {k: [a[::-1] for a in v] for k, v in p.candidates.items()}
    cand = pad_candidates(p.cameras, shuffled)  # (T, V, K, 3)
    s = cand[..., 2]
    assert np.all(np.nan_to_num(s[..., :-1], nan=-1) >= np.nan_to_num(s[..., 1:], nan=-1))


def test_static_look_alike_consistent_in_two_views_is_replaced_by_the_ball_path():
    p = make_problem(n_cameras=3, n_frames=30, noise_px=1.0, seed=4)
    fake = np.array([[5.0, 20.0, 0.5]])  # e.g. a post: a real 3D point, consistent in every view
    for cam in p.cameras[:2]:  # frame 10: the ball and the look-alike in cam0 and cam1, nothing in cam2
        uv = cam.project(fake)[0][0]
        p.candidates[cam.name][10] = np.vstack([[*uv, 0.99], p.candidates[cam.name][10]])
    p.candidates["cam2"][10] = np.zeros((0, 3))
    first = associate_frame_only(p)
    assert np.linalg.norm(first - fake[0]) < 0.1  # per frame, the exact look-alike wins the tie
    fix = associate(p.cameras, p.candidates, AssocConfig()).fixes[10]
    assert np.linalg.norm(fix.xyz - p.xyz[10]) < 0.2


def associate_frame_only(p):
    from ball3d.association import associate_frame

    cand = pad_candidates(p.cameras, p.candidates)
    return associate_frame(np.stack([c.P for c in p.cameras]), cand[10], 10, AssocConfig()).xyz
