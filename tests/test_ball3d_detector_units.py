"""Unit tests of the detector building blocks: peaks, network, checkpoint, coordinates, metrics, baseline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ball3d.detection.classical import ClassicalParams, blob_candidates
from ball3d.detection.infer import heatmaps, roi_window, topk_peaks
from ball3d.detection.inputs import CameraClip, foreground, stack_input, standardise
from ball3d.detection_metrics import (
    MetricParams,
    evaluate,
    frame_outcome,
    frame_subsets,
)
from ball3d.detection.network import (
    DetectorConfig,
    HeatmapNet,
    load_checkpoint,
    save_checkpoint,
)
from pipeutil.io import PipelineError


def _gauss(h, w, centres, sigma=1.5):
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w))
    for (u, v, a) in centres:
        out = np.maximum(out, a * np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * sigma**2)))
    return out


def test_topk_peaks_orders_suppresses_and_refines():
    heat = _gauss(40, 60, [(12.3, 20.6, 0.9), (40.8, 9.2, 0.6), (13.5, 21.0, 0.0)])
    peaks = topk_peaks(heat, k=5, nms_radius=3, min_score=0.1)
    assert peaks.shape == (2, 3)
    assert peaks[0, 2] > peaks[1, 2]
    np.testing.assert_allclose(peaks[0, :2], [12.3, 20.6], atol=0.05)
    np.testing.assert_allclose(peaks[1, :2], [40.8, 9.2], atol=0.05)
    assert topk_peaks(heat, k=1, nms_radius=3, min_score=0.1).shape == (1, 3)
    assert topk_peaks(heat, k=5, nms_radius=3, min_score=0.95).shape == (0, 3)


def test_network_any_size_and_roi_window():
    cfg = DetectorConfig(width=4)
    model = HeatmapNet(cfg).eval()
    out = heatmaps(model, np.zeros((2, cfg.in_channels, 50, 70), np.float32))
    assert out.shape == (2, 50, 70) and np.all((out >= 0) & (out <= 1))
    x0, y0, x1, y1 = roi_window(np.array([2.0, 48.0]), 32, (70, 50))
    assert (x0, y0, x1 - x0, y1 - y0) == (0, 18, 32, 32)
    x0, y0, x1, y1 = roi_window(np.array([35.0, 25.0]), 96, (70, 50))  # crop larger than the frame
    assert (x1 - x0, y1 - y0) == (68, 48) and x0 >= 0 and y0 >= 0 and (x1 - x0) % 4 == 0 and (y1 - y0) % 4 == 0 and x1 <= 70 and y1 <= 50


def test_checkpoint_roundtrip_and_bad_checkpoints(tmp_path):
    torch.manual_seed(0)
    cfg = DetectorConfig(width=4, scale=0.25)
    model = HeatmapNet(cfg).eval()
    path = tmp_path / "model.pt"
    sha = save_checkpoint(path, model, {"note": "test"})
    assert len(sha) == 64
    loaded, prov = load_checkpoint(path, expect={"scale": 0.25})
    x = np.random.default_rng(0).normal(size=(1, cfg.in_channels, 16, 24)).astype(np.float32)
    np.testing.assert_allclose(heatmaps(loaded, x), heatmaps(model, x), atol=1e-6)
    assert prov == {"note": "test"}
    with pytest.raises(PipelineError, match="scale"):
        load_checkpoint(path, expect={"scale": 0.5})
    (tmp_path / "trunc.pt").write_bytes(path.read_bytes()[:200])
    with pytest.raises(PipelineError, match="corrupt"):
        load_checkpoint(tmp_path / "trunc.pt")
    torch.save({"format": "something-else"}, tmp_path / "foreign.pt")
    with pytest.raises(PipelineError, match="not a ball3d-heatmap"):
        load_checkpoint(tmp_path / "foreign.pt")
    blob = torch.load(path, weights_only=True)
    blob["config"]["width"] = 8  # weights no longer fit the declared network
    torch.save(blob, tmp_path / "mismatch.pt")
    with pytest.raises(PipelineError, match="do not match"):
        load_checkpoint(tmp_path / "mismatch.pt")
    with pytest.raises(PipelineError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_clip_coordinates_roundtrip_and_input_stack():
    gray = np.random.default_rng(1).normal(size=(5, 20, 40)).astype(np.float32)
    clip = CameraClip("c", gray, np.zeros_like(gray), full_size=(160, 80))
    uv = np.array([[0.0, 0.0], [159.0, 79.0], [33.3, 47.1]])
    np.testing.assert_allclose(clip.to_full(clip.to_det(uv)), uv, atol=1e-9)
    np.testing.assert_allclose(clip.to_det([[1.5, 1.5]]), [[0.0, 0.0]])  # 4x4 block centre
    x = stack_input(clip, 1, n_frames=3, use_fg=True, window=(4, 2, 12, 10))
    assert x.shape == (4, 8, 8)
    np.testing.assert_array_equal(x[0], gray[0, 2:10, 4:12])  # t-2 clamped to frame 0
    np.testing.assert_array_equal(x[2], gray[1, 2:10, 4:12])
    with pytest.raises(PipelineError):
        CameraClip("c", gray, np.zeros((5, 20, 39), np.float32), full_size=(160, 80))


def test_foreground_finds_moving_disc_not_static_lines():
    T, H, W = 12, 32, 48
    frames = np.full((T, H, W), 60.0)
    frames[:, 10, :] = 200  # static line
    yy, xx = np.mgrid[0:H, 0:W]
    for t in range(T):
        frames[t][(xx - 4 - 3 * t) ** 2 + (yy - 20) ** 2 <= 4] = 250
    fg = foreground(standardise(frames))
    assert fg[6, 20, 22] > 0.9  # disc at t=6 centred on (22, 20)
    assert fg[6, 10, :].max() < 0.1 and fg[6, 0:5, :].max() < 0.1


def test_frame_outcome_counts():
    p = MetricParams(tol_px=5, score_threshold=0.5, min_visible=0.25)
    assert frame_outcome([10, 10], 1.0, [[12, 13, 0.9]], p)["tp"] == 1
    o = frame_outcome([10, 10], 1.0, [[30, 10, 0.9], [11, 10, 0.4]], p)  # far answer: FP and FN, top-K hit
    assert (o["tp"], o["fp"], o["fn"], o["topk_hit"]) == (0, 1, 1, 1)
    o = frame_outcome([10, 10], 1.0, [[10, 10, 0.3]], p)  # below threshold: missed
    assert (o["fp"], o["fn"]) == (0, 1)
    o = frame_outcome([10, 10], 0.1, [[10, 10, 0.9]], p)  # ball hidden, answered where it is: don't care
    assert sum(o.values()) == 0
    o = frame_outcome([10, 10], 0.1, [[40, 10, 0.9]], p)  # ball hidden, answered elsewhere: a FP
    assert (o["fp"], o["fn"], o["pos"]) == (1, 0, 0)
    o = frame_outcome([10, 10], 0.1, [[40, 10, 0.3]], p)  # ball hidden, no answer: a TN
    assert (o["tn"], o["fp"]) == (1, 0)
    o = frame_outcome(None, 0.0, [], p)
    assert o["tn"] == 1 and sum(o[k] for k in ("tp", "fp", "fn")) == 0
    assert frame_subsets([1, 1], 0.5, 8.0, True, p) == ["occluded", "low_light", "blurred"]
    assert frame_subsets(None, 0.0, 0.0, False, p) == ["clean"]


def test_evaluate_per_camera_and_subsets():
    truth = {"scene_id": "s", "per_camera": {
        "a": {"uv": [[10, 10], [20, 20], None], "visible_fraction": [1, 0.5, 0], "blur_px": [0, 0, 0]},
        "b": {"uv": [[5, 5], [6, 6], [7, 7]], "visible_fraction": [1, 1, 1], "blur_px": [0, 9, 0], "low_light": True}}}
    dets = {"a": [[[10, 11, 0.9]], [[40, 40, 0.8]], []], "b": [[[5, 5, 0.9]], [], [[7, 8, 0.7]]]}
    r = evaluate([(truth, dets)], MetricParams())
    assert (r["overall"]["tp"], r["overall"]["fp"], r["overall"]["fn"]) == (3, 1, 2)
    assert r["overall"]["precision"] == 0.75 and r["overall"]["recall"] == 0.6
    assert r["subsets"]["occluded"]["fn"] == 1 and r["subsets"]["blurred"]["n"] == 1
    assert r["per_camera"]["b"]["overall"]["f1"] == pytest.approx(0.8)
    assert set(r["per_camera"]["b"]["subsets"]) == {"low_light", "blurred"}
    with pytest.raises(KeyError):
        evaluate([(truth, {"a": dets["a"]})], MetricParams())


def test_classical_prefers_round_blob_over_line_and_player():
    fg = np.zeros((60, 80), np.float32)
    yy, xx = np.mgrid[0:60, 0:80]
    fg[(xx - 30.4) ** 2 + (yy - 40.2) ** 2 <= 6] = 1.0  # ball, radius ~2.4 px
    fg[10, 5:40] = 1.0  # line
    fg[5:45, 60:72] = 1.0  # player
    rows = blob_candidates(fg, ClassicalParams(), scale=1.0)
    assert len(rows) == 1
    np.testing.assert_allclose(rows[0, :2], [30.4, 40.2], atol=0.5)


def _camera(name="cam0", W=320, H=180):
    from ball3d.camera import Camera, look_at
    R, t = look_at([0.0, -40.0, 15.0], [0.0, 0.0, 0.0])
    K = [[300.0, 0, 161.0], [0, 300.0, 88.0], [0, 0, 1]]
    return Camera(name, K, [-0.15, 0.03, 0.001, -0.001, 0.0], R, t, W, H)


def test_lens_maps_between_distorted_and_undistorted_pixels():
    from ball3d.detection.inputs import Lens
    from ball3d.preprocess.phase import output_intrinsics
    cam = _camera()
    lens = Lens(output_intrinsics(cam.K, 2), cam.K, cam.dist)
    uv = np.array([[10.0, 12.0], [160.0, 90.0], [300.0, 170.0]])
    np.testing.assert_allclose(lens.to_full(lens.to_det(uv)), uv, atol=1e-3)
    X = np.array([[3.0, 2.0, 0.11]])  # a world point: its distorted pixel maps to the undistorted one / 2
    undist = cam.project(X, distort=False)[0]
    np.testing.assert_allclose(lens.to_det(cam.project(X)[0]), (undist + 0.5) / 2 - 0.5, atol=1e-3)


def test_preprocessed_clip_loads_maps_and_checks(tmp_path):
    from ball3d.detection.inputs import load_prep_clip
    from ball3d.preprocess.phase import output_intrinsics
    cam = _camera()
    K_out = output_intrinsics(cam.K, 2)
    frames = np.full((4, 90, 160, 3), 40, np.uint8)  # (T, h, w, 3)
    frames[:, 30, 50] = 255  # a dot at undistorted detector pixel (50, 30)
    fg = np.zeros((4, 90, 160), np.uint8)
    np.savez(tmp_path / "cam0.npz", frames=frames, fg=fg, K_out=K_out, scale=2.0, camera="cam0")
    full_uv = None
    for scale, dot in [(0.5, (50, 30)), (0.25, (24.75, 14.75))]:
        clip = load_prep_clip(tmp_path / "cam0.npz", cam, scale, expected_frames=4)
        assert clip.det_size == (round(320 * scale), round(180 * scale))
        full_uv = clip.to_full([[50, 30]]) if scale == 0.5 else full_uv
        np.testing.assert_allclose(clip.to_det(full_uv)[0], dot, atol=1e-3)
    with pytest.raises(PipelineError, match="truth says 5"):
        load_prep_clip(tmp_path / "cam0.npz", cam, 0.5, expected_frames=5)
    with pytest.raises(PipelineError, match="calibration file is for 'cam1'"):
        load_prep_clip(tmp_path / "cam0.npz", _camera("cam1"), 0.5)
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(PipelineError, match="bad.npz"):
        load_prep_clip(tmp_path / "bad.npz", cam, 0.5)


def test_cuda_request_without_gpu_is_a_clear_error():
    from ball3d.detection.network import resolve_device
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(PipelineError, match="no GPU"):
            resolve_device("cuda")


def test_colour_input_stacks_three_channels_per_frame(tmp_path):
    from ball3d.detection.inputs import load_clip
    from ball3d.detection.synth import write_scene
    write_scene(tmp_path / "s", 5, n_cams=1, size=(64, 48), n_frames=4)
    clip = load_clip(tmp_path / "s" / "cam0.avi", "cam0", 0.5, color=True)
    assert clip.color.shape == (4, 3, 24, 32) and clip.color.dtype == np.float16
    np.testing.assert_allclose(clip.color[2].astype(np.float32).mean(axis=(1, 2)), 0, atol=1e-2)
    cfg = DetectorConfig(n_frames=2, color=True, width=4)
    x = stack_input(clip, 2, cfg.n_frames, cfg.use_foreground, None, cfg.color)
    assert x.shape == (cfg.in_channels, 24, 32) == (7, 24, 32)
    np.testing.assert_array_equal(x[3:6], clip.color[2].astype(np.float32))  # frame t, B G R
    assert heatmaps(HeatmapNet(cfg).eval(), x[None]).shape == (1, 24, 32)
    grey_clip = load_clip(tmp_path / "s" / "cam0.avi", "cam0", 0.5)
    with pytest.raises(PipelineError, match="colour"):
        stack_input(grey_clip, 0, 2, True, None, True)



def test_occluded_boost_draws_more_windows_from_partly_hidden_frames():
    from types import SimpleNamespace

    from ball3d.detection.network import DetectorConfig
    from ball3d.detection.train import TrainParams, clip_bank

    T, h, w = 20, 48, 64
    clip = SimpleNamespace(det_size=(w, h), n_frames=T, fg=np.zeros((T, h, w), np.float32),
                           to_det=lambda uv: np.atleast_2d(np.asarray(uv, float)))
    truth = {"uv": [[32.0, 24.0]] * T, "visible_fraction": [0.5 if t < 2 else 1.0 for t in range(T)]}
    cfg = DetectorConfig(n_frames=1, use_foreground=False, color=False)
    import ball3d.detection.train as train_mod

    counts = {}
    for boost in (1.0, 8.0):
        picked = []
        orig = train_mod.stack_input
        train_mod.stack_input = lambda clip, t, *a, **k: (picked.append(t), np.zeros((1, 16, 16), np.float32))[1]
        try:
            clip_bank(clip, truth, cfg, TrainParams(crop=8, margin=4, pos_per_clip=400, neg_per_clip=0,
                                                    occluded_boost=boost), np.random.default_rng(0))
        finally:
            train_mod.stack_input = orig
        counts[boost] = np.mean(np.array(picked) < 2)  # share of windows from the two partly hidden frames
    assert counts[1.0] < 0.2 and counts[8.0] > 0.35  # 2/20 = 0.1 uniform; 16/34 = 0.47 boosted


def test_answers_re_read_with_the_3d_track():
    from ball3d.detection_metrics import answers_from_track

    cam = _camera()
    X = np.array([[3.0, 2.0, 0.11]])
    (u, v), = cam.project(X)[0]
    rows = {"cam0": [
        [[u + 40, v, 0.9], [u + 1.0, v - 1.0, 0.3]],  # a look-alike on top, the ball second and weak: promoted
        [[u + 40, v, 0.9]],  # nothing near the ball: no answer (scores capped below the threshold)
        [[u + 40, v, 0.9]],  # no track position in this frame: as the detector wrote it
        [[u + 0.5, v, 0.8]],  # already right: kept
    ]}
    track = {"frames": [0, 1, 3], "xyz": [X[0].tolist()] * 3}
    out = answers_from_track(rows, [cam], track, radius_px=4.0, score_threshold=0.5)["cam0"]
    assert out[0][0] == [u + 1.0, v - 1.0, 0.5] and out[0][1] == [u + 40, v, 0.9]
    assert len(out[1]) == 1 and out[1][0][2] < 0.5 and out[1][0][:2] == [u + 40, v]
    assert out[2] == [[u + 40, v, 0.9]] and out[3] == [[u + 0.5, v, 0.8]]
    assert rows["cam0"][0][0] == [u + 40, v, 0.9]  # the input is not changed
    p = MetricParams(tol_px=5, score_threshold=0.5, min_visible=0.25)
    before = [frame_outcome([u, v], 1.0, r, p) for r in rows["cam0"]]
    after = [frame_outcome([u, v], 1.0, r, p) for r in out]
    assert [o["tp"] for o in before] == [0, 0, 0, 1] and [o["tp"] for o in after] == [1, 0, 0, 1]
    assert [o["fp"] for o in after] == [0, 0, 1, 0]  # the look-alike of frame 1 is no longer answered
    behind = {"frames": [0], "xyz": [[0.0, -60.0, 15.0]]}  # behind the camera: rows unchanged
    assert answers_from_track({"cam0": rows["cam0"][:1]}, [cam], behind, 4.0, 0.5)["cam0"] == rows["cam0"][:1]
    with pytest.raises(KeyError, match="cam1"):
        answers_from_track(rows, [_camera("cam1")], track, 4.0, 0.5)


def test_standardise_color_is_the_per_channel_formula_bit_for_bit():
    """Channel-by-channel float32 arithmetic, cast to float16: equal to (x - mean) / std on the (3, h, w)
    transpose, bit for bit; a flat channel divides by 1e-3, not by 0."""
    import cv2

    from ball3d.detection.inputs import standardise_color

    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (3, 17, 23, 3), dtype=np.uint8)
    frames[2, :, :, 1] = 77  # a flat channel
    got = standardise_color(frames)
    assert got.shape == (3, 3, 17, 23) and got.dtype == np.float16
    for t, f in enumerate(frames):
        mu, sd = cv2.meanStdDev(f)
        ref = ((f.astype(np.float32) - mu[:, 0].astype(np.float32))
               * (1.0 / np.maximum(sd[:, 0], 1e-3)).astype(np.float32)).transpose(2, 0, 1).astype(np.float16)
        assert np.array_equal(got[t], ref)
    assert np.all(got[2, 1] == 0) and abs(float(got[0, 0].astype(np.float32).mean())) < 1e-2
