"""End to end on tiny synthetic clips: train, detect (full frame, ROI, classical), score, bad input.

Nothing here asserts on what training learns (that differs with the CPU's BLAS kernels; learning quality
is measured by the full run and benchmarks/bench_detector.py): training is checked for its mechanics and
outputs, detection quality with the hand-set network of ball3d.analytic_detector (same answer everywhere)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ball3d.detection.analytic import write_analytic_checkpoint
from ball3d.detection.classical import ClassicalParams
from ball3d.detection.infer import DetectParams, detect_clip
from ball3d.detection.inputs import load_scene_clips
from ball3d.detection_metrics import MetricParams
from ball3d.detection.network import DetectorConfig, load_checkpoint
from ball3d.detection.phase import SceneInput, run_detect, run_metrics, run_train
from ball3d.detection.synth import write_scene
from ball3d.detection.train import TrainParams
from pipeutil.io import PipelineError

SIZE = (160, 96)  # full-resolution synthetic frames; the detector runs at half size
CFG = DetectorConfig(n_frames=3, width=8, scale=0.5, sigma=1.5, color=False, input_source="video")
TP = TrainParams(seed=3, steps=40, batch_size=12, crop=32, margin=6, pos_per_clip=60, neg_per_clip=20, lr=4e-3,
                 log_every=10, threads=1, device="cpu")  # 1 thread: robust on a busy machine
DP = DetectParams(mode="roi", top_k=3, roi_size=32, track_threshold=0.3, full_every=10, disagree_factor=1.0,
                  device="cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    scenes = {}
    for name, seed in [("train_1", 1), ("train_2", 2), ("val_3", 3), ("test_4", 4)]:
        scenes[name] = root / "scenes" / name
        write_scene(scenes[name], seed, n_cams=3, size=SIZE, n_frames=20, low_light_cams=(1,), blur_cams=(2,))
    out = root / "train"
    report = run_train([SceneInput(str(scenes["train_1"])), SceneInput(str(scenes["train_2"]))], [SceneInput(str(scenes["val_3"]))],
                       str(out / "model.pt"),
                       str(out / "training.json"), str(out / "curve.png"), CFG, TP, DP, MetricParams(),
                       str(out / "timing.json"))
    write_analytic_checkpoint(root / "analytic.pt", CFG)
    return root, scenes, report


def test_training_writes_self_describing_outputs(trained):
    root, _, report = trained
    on_disk = json.loads((root / "train" / "training.json").read_text())
    assert on_disk["sha256"] == report["sha256"] and on_disk["config"]["scale"] == 0.5
    assert on_disk["provenance"]["train_scenes"] == ["train_1", "train_2"]
    assert (root / "train" / "curve.png").stat().st_size > 1000
    assert [c["step"] for c in report["curve"]] == [10, 20, 30, 40]
    assert all(np.isfinite(c["loss"]) and c["loss"] > 0 for c in report["curve"])
    _, prov = load_checkpoint(root / "train" / "model.pt", expect={"scale": 0.5, "n_frames": 3})
    assert prov["val_scenes"] == ["val_3"] and prov["steps"] == 40
    assert {"overall", "subsets", "per_camera"} <= set(report["val_metrics"])  # scored, whatever was learned
    timing = json.loads((root / "train" / "timing.json").read_text())  # wall clock: out of the checkpoint and report
    assert timing["train_seconds"] > 0 and [c["step"] for c in timing["curve"]] == [10, 20, 30, 40]
    assert "seconds" not in json.dumps(on_disk) and "seconds" not in json.dumps(prov)


def test_training_is_bit_identical_on_the_same_machine(trained, tmp_path):
    """Same params, same machine, same bytes (the checkpoint holds no wall-clock field)."""
    root, scenes, report = trained
    again = run_train([SceneInput(str(scenes["train_1"])), SceneInput(str(scenes["train_2"]))],
                      [SceneInput(str(scenes["val_3"]))], str(tmp_path / "model.pt"), str(tmp_path / "training.json"),
                      str(tmp_path / "curve.png"), CFG, TP, DP, MetricParams())
    assert again["sha256"] == report["sha256"]
    assert (tmp_path / "model.pt").read_bytes() == (root / "train" / "model.pt").read_bytes()


def test_detect_and_metrics_on_held_out_scene(trained):
    root, scenes, _ = trained
    det = {}
    for name, ckpt in (("heatmap", root / "analytic.pt"), ("classical", None), ("trained", root / "train" / "model.pt")):
        det[name] = root / "detect" / f"{name}.json"
        out = run_detect(SceneInput(str(scenes["test_4"])), str(det[name]), "classical" if ckpt is None else "heatmap",
                         None if ckpt is None else str(ckpt), DP, ClassicalParams(top_k=3, fg_threshold=0.35, min_radius_px=1.5, max_radius_px=12.0),
                         threads=1)
        assert set(out["per_camera"]) == {"cam0", "cam1", "cam2"} and len(out["per_camera"]["cam0"]) == 20
        assert all(len(rows) <= 3 for rows in out["per_camera"]["cam1"])
    res = run_metrics([str(scenes["test_4"])], {k: [str(v)] for k, v in det.items()}, str(root / "m.json"),
                      str(root / "m.png"), MetricParams())
    heat = res["detectors"]["heatmap"]  # the hand-set network: measured F1 1.0 on cam0 and cam1, 0.43 blurred cam2
    assert heat["per_camera"]["cam0"]["overall"]["f1"] >= 0.9 and heat["per_camera"]["cam1"]["overall"]["f1"] >= 0.9
    assert set(heat["per_camera"]) == {"cam0", "cam1", "cam2"}
    assert "low_light" in heat["subsets"] and "blurred" in heat["subsets"]
    assert set(res["detectors"]) == {"heatmap", "classical", "trained"}  # the trained one is scored, not judged
    scene_f1 = heat["per_scene"]["test_4"]  # one scene: the per-scene figures are the pooled ones
    assert scene_f1["f1"] == heat["overall"]["f1"] and scene_f1["subsets"]["blurred"] == heat["subsets"]["blurred"]["f1"]


def test_roi_mode_tracks_and_falls_back(trained):
    root, scenes, _ = trained
    model, _ = load_checkpoint(root / "analytic.pt")
    _, clips = load_scene_clips(scenes["test_4"], model.cfg.scale)
    clip = clips[0]
    full, st_full = detect_clip(model, clip, DetectParams(mode="full", top_k=1))
    roi, st_roi = detect_clip(model, clip, DetectParams(mode="roi", top_k=1, roi_size=32, full_every=10))
    assert st_full["full_frames"] == 20 and st_roi["roi_frames"] >= 14 and st_roi["full_frames"] < 10
    assert st_roi["full_frames"] >= 2  # frames 0 and 10 always run whole (full_every=10)
    both = [(a[0, :2], b[0, :2]) for a, b in zip(full, roi) if len(a) and len(b) and a[0, 2] > 0.5]
    assert len(both) >= 12 and max(np.hypot(*(a - b)) for a, b in both) < 1.0
    far = [[5.0, 5.0]] * clip.n_frames  # a prediction far from the ball: every crop misses -> full frame
    lost, st_lost = detect_clip(model, clip, DetectParams(mode="roi", top_k=1, roi_size=32, full_every=0), predictions=far)
    assert st_lost["roi_frames"] == clip.n_frames and st_lost["full_frames"] >= 10
    hits = [np.hypot(*(a[0, :2] - b[0, :2])) for a, b in zip(full, lost) if len(a) and len(b)]
    assert np.median(hits) < 1.0


def test_bad_inputs_give_clear_errors(trained, tmp_path):
    root, scenes, _ = trained
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(PipelineError, match="corrupt"):
        run_detect(SceneInput(str(scenes["test_4"])), str(tmp_path / "d.json"), "heatmap", str(bad), DP, ClassicalParams())
    assert not (tmp_path / "d.json").exists()
    with pytest.raises(PipelineError, match="input_source"):  # trained on raw videos, asked to read preprocess output
        run_detect(SceneInput(str(scenes["test_4"]), str(tmp_path), str(tmp_path)), str(tmp_path / "d.json"), "heatmap",
                   str(root / "train" / "model.pt"), DP, ClassicalParams())
    with pytest.raises(PipelineError, match="unknown detector"):
        run_detect(SceneInput(str(scenes["test_4"])), str(tmp_path / "d.json"), "yolo", None, DP, ClassicalParams())
    broken = tmp_path / "broken"
    shutil.copytree(scenes["test_4"], broken)
    (broken / "cam1.avi").write_bytes(b"garbage")
    with pytest.raises(PipelineError, match="cam1.avi"):
        run_detect(SceneInput(str(broken)), str(tmp_path / "d.json"), "classical", None, DP, ClassicalParams())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"scene_id": "test_4", "detector": "x", "per_camera": {}}))
    with pytest.raises(PipelineError, match="scene"):
        run_metrics([str(scenes["val_3"])], {"heatmap": [str(other)]}, str(tmp_path / "m.json"),
                    str(tmp_path / "m.png"), MetricParams())
    assert not (tmp_path / "m.json").exists()


def test_camera_without_any_detection_is_scored_not_dropped(tmp_path):
    truth = write_scene(tmp_path / "s", 9, n_cams=2, size=SIZE, n_frames=6)
    dets = {"scene_id": "s", "detector": "x", "per_camera": {"cam0": [[] for _ in range(6)], "cam1": [[] for _ in range(6)]}}
    (tmp_path / "x.json").write_text(json.dumps(dets))
    res = run_metrics([str(tmp_path / "s")], {"x": [str(tmp_path / "x.json")]}, str(tmp_path / "m.json"),
                      str(tmp_path / "m.png"), MetricParams())
    m = res["detectors"]["x"]["per_camera"]["cam0"]["overall"]
    n_pos = sum(1 for uv, v in zip(truth["per_camera"]["cam0"]["uv"], truth["per_camera"]["cam0"]["visible_fraction"])
                if uv is not None and v >= 0.25)
    assert m["fn"] == n_pos and m["fp"] == 0 and m["recall"] == (0.0 if n_pos else 1.0)


def test_analytic_network_computes_its_documented_formula(tmp_path):
    """enc1 / dec1 / head of ball3d.analytic_detector against the formula in numpy, and a loadable checkpoint."""
    import cv2
    import torch

    from ball3d.detection.analytic import AnalyticParams, analytic_heatmap_net
    from ball3d.detection.infer import heatmaps

    cfg = DetectorConfig(n_frames=3, width=8, scale=0.5, color=True, input_source="preprocess")
    p = AnalyticParams()
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, (2, cfg.in_channels, 24, 32)).astype(np.float32)  # (B, C, H, W)
    x[:, -1] = rng.random((2, 24, 32)) < 0.3  # 0/1 foreground, as the preprocess phase writes it
    got = heatmaps(analytic_heatmap_net(cfg, p), x)  # (B, H, W)
    z = x[:, 6:9]  # colour channels of frame t
    resp = np.clip(z - p.threshold, 0, p.cap).sum(axis=1) * x[:, -1]  # (B, H, W)
    blur = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16
    r = np.stack([cv2.filter2D(a, -1, blur, borderType=cv2.BORDER_CONSTANT) for a in resp])
    want = 1 / (1 + np.exp(-p.gain * (r - p.offset)))
    assert np.abs(got - want).max() < 1e-5
    write_analytic_checkpoint(tmp_path / "a.pt", cfg)
    model, prov = load_checkpoint(tmp_path / "a.pt", expect={"input_source": "preprocess"})  # strict state dict
    assert prov["analytic"] is True and prov["train_scenes"] == []
    assert torch.equal(model.head.weight, analytic_heatmap_net(cfg, p).head.weight)
    with pytest.raises(ValueError, match="use_foreground"):
        analytic_heatmap_net(DetectorConfig(use_foreground=False))


def test_detect_checkpoint_parameter_reuses_a_file_and_checks_it(trained, tmp_path):
    import copy
    from pathlib import Path

    import yaml

    from ball3d.detection.phase import checkpoint_path
    from pipeutil.params import validate_params
    from pipeutil.sources import sha256_of

    root, _, _ = trained
    ckpt = root / "analytic.pt"
    assert checkpoint_path({"checkpoint": None}, "results/train_detector/model.pt") == "results/train_detector/model.pt"
    assert checkpoint_path({"checkpoint": f"file:{ckpt}", "checkpoint_sha256": sha256_of(ckpt)}, None) == str(ckpt)
    for cfg, match in (({"checkpoint": f"file:{ckpt}", "checkpoint_sha256": "0" * 64}, "sha256"),
                       ({"checkpoint": f"file:{tmp_path / 'none.pt'}"}, "not found"),
                       ({"checkpoint": "hf:org/detector"}, "file:<path>"),
                       ({"checkpoint": None}, "no heatmap checkpoint")):
        with pytest.raises(PipelineError, match=f"detect.*{match}"):
            checkpoint_path(cfg, None)
    repo = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    bad = copy.deepcopy(params)
    bad["detect"]["checkpoint"] = "model.pt"  # a bare path, not a source
    with pytest.raises(PipelineError, match="detect.checkpoint"):
        validate_params(bad, repo / "workflow" / "schemas")
