"""End to end on tiny synthetic clips: train, detect (full frame, ROI, classical), score, bad input."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ball3d.classical import ClassicalParams
from ball3d.detect import DetectParams, detect_clip
from ball3d.detector import DetectorConfig, load_checkpoint
from ball3d.detinput import load_scene_clips
from ball3d.detmetrics import MetricParams
from ball3d.detrun import SceneInput, run_detect, run_metrics, run_train
from ball3d.detsynth import write_scene
from ball3d.train import TrainParams
from pipeutil.io import PipelineError

SIZE = (160, 96)  # full-resolution synthetic frames; the detector runs at half size
CFG = DetectorConfig(n_frames=3, width=8, scale=0.5, sigma=1.5, input_source="video")
TP = TrainParams(seed=3, steps=200, batch_size=12, crop=32, margin=6, pos_per_clip=60, neg_per_clip=20, lr=4e-3,
                 log_every=40, threads=1)  # 1 thread: robust on a busy machine
DP = DetectParams(top_k=3, roi_size=32, track_threshold=0.3)


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
                       str(out / "training.json"), str(out / "curve.png"), CFG, TP, DP, MetricParams())
    return root, scenes, report


def test_training_writes_self_describing_outputs(trained):
    root, _, report = trained
    on_disk = json.loads((root / "train" / "training.json").read_text())
    assert on_disk["sha256"] == report["sha256"] and on_disk["config"]["scale"] == 0.5
    assert on_disk["provenance"]["train_scenes"] == ["train_1", "train_2"]
    assert (root / "train" / "curve.png").stat().st_size > 1000
    losses = [c["loss"] for c in report["curve"]]
    assert losses[-1] < 0.75 * losses[0]
    _, prov = load_checkpoint(root / "train" / "model.pt", expect={"scale": 0.5, "n_frames": 3})
    assert prov["val_scenes"] == ["val_3"]
    assert report["val_metrics"]["overall"]["f1"] >= 0.8


def test_detect_and_metrics_on_held_out_scene(trained):
    root, scenes, _ = trained
    det = {}
    for name in ("heatmap", "classical"):
        det[name] = root / "detect" / f"{name}.json"
        out = run_detect(SceneInput(str(scenes["test_4"])), str(det[name]), name, str(root / "train" / "model.pt"), DP,
                         ClassicalParams(top_k=3), threads=1)
        assert set(out["per_camera"]) == {"cam0", "cam1", "cam2"} and len(out["per_camera"]["cam0"]) == 20
        assert all(len(rows) <= 3 for rows in out["per_camera"]["cam1"])
    res = run_metrics([str(scenes["test_4"])], {k: [str(v)] for k, v in det.items()}, str(root / "m.json"),
                      str(root / "m.png"), MetricParams())
    heat = res["detectors"]["heatmap"]
    assert heat["overall"]["f1"] >= 0.85 and heat["overall"]["topk_recall"] >= 0.9
    assert set(heat["per_camera"]) == {"cam0", "cam1", "cam2"}
    assert "low_light" in heat["subsets"] and "blurred" in heat["subsets"]
    assert heat["overall"]["f1"] >= res["detectors"]["classical"]["overall"]["f1"]


def test_roi_mode_tracks_and_falls_back(trained):
    root, scenes, _ = trained
    model, _ = load_checkpoint(root / "train" / "model.pt")
    _, clips = load_scene_clips(scenes["test_4"], model.cfg.scale)
    clip = clips[0]
    full, st_full = detect_clip(model, clip, DetectParams(mode="full", top_k=1))
    roi, st_roi = detect_clip(model, clip, DetectParams(mode="roi", top_k=1, roi_size=32))
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
