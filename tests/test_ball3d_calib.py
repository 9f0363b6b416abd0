"""Calibration: chessboard intrinsics, landmark extrinsics, view rejection and bad input."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from ball3d.board import Board, calibration_frames
from ball3d.calibration.calibrate import (
    View,
    calibrate_intrinsics,
    camera_errors,
    select_views,
    solve_extrinsics,
    synthetic_landmark_pixels,
)
from ball3d.camera import Camera, look_at
from ball3d.pitch import landmarks
from ball3d.videoio import VideoInfo, check_consistent, iter_frames, write_video
from pipeutil.io import PipelineError

ROOT = Path(__file__).resolve().parents[1]


def calib_cfg(**over) -> dict:
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text())["calibrate"])
    cfg.update(over)
    return cfg


def gt_camera(w=640, h=360) -> Camera:
    R, t = look_at([-60, -45, 18], [-24, -18, 0])
    f = 1400 * w / 1920
    return Camera("cam0", K=[[f, 0, w / 2 - 3.2], [0, f, h / 2 + 2.1], [0, 0, 1]], dist=[-0.08, 0.02, 0, 0, 0],
                  R=R, t=t, width=w, height=h)


@pytest.fixture(scope="module")
def calib_video(tmp_path_factory) -> tuple[Path, Camera]:
    cam = gt_camera()
    path = tmp_path_factory.mktemp("calib") / "calib_cam0.avi"
    write_video(path, calibration_frames(cam, Board(), 30, np.random.default_rng(3), 0.2, 2.0), 25.0)
    return path, cam


def test_intrinsics_recovered_from_rendered_board_video(calib_video):
    path, gt = calib_video
    intr = calibrate_intrinsics(str(path), Board(), calib_cfg(max_samples=30), "cam0")
    assert intr.rms_px < 0.5
    assert abs(intr.K[0, 0] - gt.K[0, 0]) / gt.K[0, 0] < 0.01
    assert np.linalg.norm(intr.K[:2, 2] - gt.K[:2, 2]) < 3.0
    assert intr.dist[0] == pytest.approx(gt.dist[0], abs=0.03)
    statuses = {v.status for v in intr.views}
    assert "accepted" in statuses
    assert intr.summary()["views"]["accepted"] >= 6


def test_extrinsics_from_landmarks_match_truth():
    gt = gt_camera(1920, 1080)
    lm = landmarks()
    names, xyz, uv = synthetic_landmark_pixels(gt, lm.names, lm.xyz, 0.5, np.random.default_rng(0))
    assert len(names) >= 6
    R, t, rms = solve_extrinsics(gt.K, gt.dist, xyz, uv, "cam0", 6)
    est = Camera("cam0", K=gt.K, dist=gt.dist, R=R, t=t, width=1920, height=1080)
    err = camera_errors(est, gt)
    assert rms < 1.5
    assert err["centre_cm"] < 30 and err["rotation_deg"] < 0.2 and err["focal_pct"] == 0


def test_too_few_landmarks_is_an_error():
    gt = gt_camera()
    lm = landmarks()
    with pytest.raises(PipelineError, match="cam0.*landmarks"):
        solve_extrinsics(gt.K, gt.dist, lm.xyz[:3], np.zeros((3, 2)), "cam0", 6)


def test_blurred_small_and_duplicate_views_are_rejected():
    c = np.random.default_rng(0).uniform(0, 300, (54, 2))
    views = [View(0, c, sharpness=100, area_frac=0.1), View(1, c + 50, sharpness=20, area_frac=0.1),
             View(2, c + 90, sharpness=110, area_frac=0.001), View(3, c + 0.5, sharpness=100, area_frac=0.1),
             View(4, None)]
    accepted = select_views(views, blur_ratio=0.5, min_area_frac=0.02, min_shift_frac=0.01, size=(640, 360))
    assert [v.status for v in views] == ["accepted", "blurred", "too small", "duplicate", "not found"]
    assert accepted == [views[0]]


def test_video_without_board_names_the_camera(tmp_path):
    path = tmp_path / "calib_camX.avi"
    write_video(path, (np.full((120, 160, 3), 128, np.uint8) for _ in range(5)), 25.0)
    with pytest.raises(PipelineError, match="camera 'camX': no 9x6 chessboard found"):
        calibrate_intrinsics(str(path), Board(), calib_cfg(), "camX")


def test_truncated_and_unreadable_videos_are_errors(tmp_path):
    path = tmp_path / "v.avi"
    rng = np.random.default_rng(0)
    write_video(path, (rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(20)), 25.0)
    assert len(list(iter_frames(path))) == 20
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(PipelineError, match="truncated|cannot|corrupt"):
        list(iter_frames(cut))
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(PipelineError, match="junk.avi"):
        list(iter_frames(junk))


def test_cameras_with_different_frame_counts_or_rates_are_errors():
    a = VideoInfo("a.avi", 50, 25.0, 640, 360)
    with pytest.raises(PipelineError, match="frame counts"):
        check_consistent([a, VideoInfo("b.avi", 49, 25.0, 640, 360)], "scene")
    with pytest.raises(PipelineError, match="frame rates"):
        check_consistent([a, VideoInfo("b.avi", 50, 30.0, 640, 360)], "scene")


def test_impossible_intrinsic_matrix_is_rejected(tmp_path):
    d = gt_camera().to_dict()
    d["K"][0][0] = -5.0
    p = tmp_path / "cam0.json"
    p.write_text(json.dumps(d))
    with pytest.raises(PipelineError, match="cam0.json.*focal"):
        Camera.load(p)


def test_intrinsics_are_bit_identical_with_two_opencv_threads(calib_video):
    """cv2.calibrateCamera sums in parallel chunks: with 2 threads its last digits changed run to run."""
    path, _ = calib_video
    old = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        runs = {(intr.K.tobytes(), intr.dist.tobytes(), intr.rms_px) for intr in
                (calibrate_intrinsics(str(path), Board(), calib_cfg(max_samples=30), "cam0") for _ in range(4))}
    finally:
        cv2.setNumThreads(old)
    assert len(runs) == 1
    assert cv2.getNumThreads() == old  # the single-thread block restores the caller's setting


@pytest.mark.parametrize("key, value, match", [
    ("t", [0.0, float("nan"), 20.0], "translation t must be 3 finite numbers"),
    ("t", [0.0, 1.0], "translation t must be 3 finite numbers"),
    ("dist", [-0.08, float("nan"), 0.0, 0.0, 0.0], "distortion dist must be 4 or 5 finite numbers"),
    ("dist", [-0.08, 0.02, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0], "distortion dist must be 4 or 5 finite numbers"),
    ("R", [[float("nan")] * 3] * 3, "R is not a rotation matrix"),
    ("fps", float("inf"), "fps must be a finite positive number"),
])
def test_camera_file_with_non_finite_or_misshapen_values_is_rejected(tmp_path, key, value, match):
    """A NaN translation used to end in 'SVD did not converge' far downstream; NaN distortion was accepted."""
    d = gt_camera().to_dict()
    d[key] = value
    p = tmp_path / "cam0.json"
    p.write_text(json.dumps(d))  # json writes NaN / Infinity, as a hand-edited or foreign file may hold them
    with pytest.raises(PipelineError, match=f"cam0.json: camera 'cam0': {match}"):
        Camera.load(p)


def test_cli_calibrates_a_folder_of_degraded_photographs(tmp_path):
    """Photographs: JPEG compression, defocus, uneven lighting and noise, in a folder."""
    from ball3d.calibration.cli import main

    gt = gt_camera(800, 600)
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:600, 0:800]
    light = (0.65 + 0.35 * np.cos((xx - 200) / 700.0) * np.cos((yy - 100) / 600.0))[:, :, None]  # vignetting
    for i, img in enumerate(calibration_frames(gt, Board(), 18, rng, 0.0, 1.0)):
        img = cv2.GaussianBlur(img, (0, 0), 0.8) * light + rng.normal(0, 3, img.shape)
        cv2.imwrite(str(tmp_path / f"IMG_{i:03d}.jpg"), np.clip(img, 0, 255).astype(np.uint8),
                    [cv2.IMWRITE_JPEG_QUALITY, 80])
    out = tmp_path / "cam0.json"
    assert main(["--input", str(tmp_path), "--board", "9x6", "--square", "0.1", "--out", str(out)]) == 0
    cam = Camera.load(out)
    assert abs(cam.K[0, 0] - gt.K[0, 0]) / gt.K[0, 0] < 0.015
    assert np.linalg.norm(cam.K[:2, 2] - gt.K[:2, 2]) < 5.0
    assert main(["--input", str(tmp_path / "none"), "--square", "0.1", "--out", str(tmp_path / "x.json")]) == 1


def tiny_scene_cfg() -> dict:
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text())["scenes"])
    cfg.update(width=320, height=180, n_frames=4)
    cfg["cameras"]["count"] = 2
    cfg["calib_video"]["n_frames"] = 24
    return cfg


@pytest.fixture(scope="module")
def tiny_scene(tmp_path_factory) -> tuple[Path, dict]:
    from ball3d.scenes.generate import generate_scene, scene_specs

    cfg = tiny_scene_cfg()
    d = tmp_path_factory.mktemp("scene") / "s"
    return d, generate_scene(scene_specs(cfg)[0], cfg, d)


def _copy_scene(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_scene_calibration_and_preprocessing_end_to_end(tiny_scene, tmp_path):
    from ball3d.calibration.phase import calibrate_scene
    from ball3d.preprocess.phase import preprocess_scene

    scene, _ = tiny_scene
    report = calibrate_scene(scene, ["cam0", "cam1"], calib_cfg(max_samples=24), tmp_path / "cal",
                             tiny_scene_cfg()["cameras"])
    for entry in report["cameras"]:
        err = entry["errors_vs_truth"]
        assert entry["rms_px"] < 0.5 and err["focal_pct"] < 3 and err["rotation_deg"] < 2
        assert entry["extrinsics"] == "lines" and entry["initial_pose"].startswith("nominal rig pose")
        assert entry["line_points"] > 100 and entry["line_residual_px"] < 0.75
        cmp = entry["compare_vs_truth"]
        assert cmp["initial"]["centre_cm"] > 2 * err["centre_cm"] and set(cmp) >= {"landmarks_truth", "lines_dt_only"}
    pcfg = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text())["preprocess"])
    pcfg.update(backend="cpu", threads=1, compress_level=0)
    summary = preprocess_scene(scene, tmp_path / "cal", ["cam0", "cam1"], pcfg, tmp_path / "pre")
    data = np.load(tmp_path / "pre" / "cam0.npz")
    assert data["frames"].shape == (4, 90, 160, 3) and data["fg"].shape == (4, 90, 160)
    assert summary["cameras"][0]["backend"] == "cpu"


def test_scene_without_board_fails_naming_the_camera_and_writes_nothing(tiny_scene, tmp_path):
    from ball3d.calibration.phase import calibrate_scene

    scene = _copy_scene(tiny_scene[0], tmp_path / "s")
    write_video(scene / "calib_cam1.avi", (np.full((180, 320, 3), 100, np.uint8) for _ in range(8)), 25.0)
    with pytest.raises(PipelineError, match="camera 'cam1': no 9x6 chessboard"):
        calibrate_scene(scene, ["cam0", "cam1"], calib_cfg(max_samples=24), tmp_path / "cal",
                        tiny_scene_cfg()["cameras"])
    assert not (tmp_path / "cal").exists()


def test_scene_with_mismatched_frame_rate_is_rejected(tiny_scene, tmp_path):
    from ball3d.calibration.phase import calibrate_scene

    scene = _copy_scene(tiny_scene[0], tmp_path / "s")
    frames = list(iter_frames(scene / "cam1.avi"))
    write_video(scene / "cam1.avi", (f for _, f in frames), 30.0)
    with pytest.raises(PipelineError, match="different frame rates"):
        calibrate_scene(scene, ["cam0", "cam1"], calib_cfg(max_samples=24), tmp_path / "cal",
                        tiny_scene_cfg()["cameras"])
    assert not (tmp_path / "cal").exists()


def test_preprocess_rejects_an_impossible_camera_file(tiny_scene, tmp_path):
    from ball3d.preprocess.phase import preprocess_scene

    scene = tiny_scene[0]
    cal = tmp_path / "cal"
    cal.mkdir()
    for c in tiny_scene[1]["cameras"]:
        d = dict(c)
        if c["name"] == "cam1":
            d["K"] = [[300.0, 0, 999.0], [0, 300.0, 90.0], [0, 0, 1]]  # principal point outside the image
        (cal / f"{c['name']}.json").write_text(json.dumps(d))
    pcfg = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text())["preprocess"])
    pcfg.update(backend="cpu", threads=1, compress_level=0)
    with pytest.raises(PipelineError, match="cam1.json.*principal point"):
        preprocess_scene(scene, cal, ["cam0", "cam1"], pcfg, tmp_path / "pre")
    assert not (tmp_path / "pre").exists()


def test_scene_whose_video_shows_no_pitch_lines_fails_naming_the_camera(tiny_scene, tmp_path):
    from ball3d.calibration.phase import calibrate_scene

    scene = _copy_scene(tiny_scene[0], tmp_path / "s")
    rng = np.random.default_rng(0)
    grass = [np.clip(np.array([40, 120, 50]) + rng.normal(0, 2, (180, 320, 3)), 0, 255).astype(np.uint8)
             for _ in range(4)]
    write_video(scene / "cam1.avi", grass, 25.0)
    with pytest.raises(PipelineError, match="camera 'cam1'.*pitch-line pixels.*landmarks_px.json"):
        calibrate_scene(scene, ["cam0", "cam1"], calib_cfg(max_samples=24), tmp_path / "cal",
                        tiny_scene_cfg()["cameras"])
    assert not (tmp_path / "cal").exists()


def test_landmarks_truth_mode_and_clicks_as_the_initial_pose(tiny_scene, tmp_path):
    """landmarks_truth = PnP on simulated clicks; with landmarks_px.json the line fit starts from the clicks."""
    from ball3d.calibration.phase import calibrate_scene, summarise

    scene = _copy_scene(tiny_scene[0], tmp_path / "s")
    rep = calibrate_scene(scene, ["cam0"], calib_cfg(max_samples=24, extrinsics="landmarks_truth"), tmp_path / "a")
    entry = rep["cameras"][0]
    assert entry["extrinsics"] == "landmarks_truth" and entry["landmark_source"].startswith("truth projection")
    assert "line_residual_px" not in entry and entry["errors_vs_truth"]["rotation_deg"] < 1
    gt = Camera.from_dict(tiny_scene[1]["cameras"][0])
    lm = landmarks()
    names, _, uv = synthetic_landmark_pixels(gt, lm.names, lm.xyz, 0.3, np.random.default_rng(1))
    (scene / "landmarks_px.json").write_text(json.dumps({"cam0": {n: p.tolist() for n, p in zip(names, uv)}}))
    rep = calibrate_scene(scene, ["cam0"], calib_cfg(max_samples=24), tmp_path / "b")  # no rig: clicks suffice
    entry = rep["cameras"][0]
    assert entry["initial_pose"].startswith(f"PnP on {len(names)} clicked landmarks")
    assert entry["errors_vs_truth"]["rotation_deg"] < 1
    summary = summarise([rep])
    assert summary["extrinsics"] == ["lines"] and "line_residual_px" in summary["per_camera"][0]
    assert set(summary["compare_vs_truth"]) == {"initial", "landmarks_truth", "lines_dt_only"}
