"""No result is a result: every vision stage where "nothing found" is possible returns an empty
answer with its reasons (no detections, one camera, detections that never agree), never a traceback."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from ball3d.association import AssocConfig, associate
from ball3d.detection.infer import DetectParams
from ball3d.detection.inputs import CameraClip
from ball3d.detection_metrics import MetricParams, evaluate
from ball3d.detection.network import DetectorConfig
from ball3d.detection.phase import plot_f1
from ball3d.detection.roi3d import assoc_config, detect_scene_roi3d
from ball3d.evaluation.phase import run_metrics, run_plots
from ball3d.evaluation.synth import candidates_to_contract, make_problem, ring_cameras, to_truth
from ball3d.fusion.graph import BundleConfig, solve
from ball3d.fusion.phase import run_bundle
from ball3d.fusion.solve import solve_scene
from ball3d.fusion.sequence import associate_sequence
from ball3d.fusion.streaming import stream

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["bundle"]  # sequence, skew variant, streaming: all on
N = 12  # frames
ALL_METHODS = {"dlt", "ransac", "ransac_seq", "graph_robust", "graph_smoothed", "graph_smoothed_skew",
               "streaming_filtered", "streaming_fixed_lag"}


def _cases():
    p = make_problem(n_cameras=3, n_frames=N, seed=0)
    one = p.cameras[0].name
    return p, {
        "no detections": (p.cameras, {c.name: [[] for _ in range(N)] for c in p.cameras}, "detections in 0 camera(s)"),
        "one camera": (p.cameras[:1], {one: candidates_to_contract(p.candidates)[one]},
                       "only 1 camera(s): no 3D fix possible"),
        "never consistent": (p.cameras, {c.name: [[[10.0 + 300 * j, 10.0 + 40 * i, 0.9]] for i in range(N)]
                                         for j, c in enumerate(p.cameras)}, "consistent view"),
    }


@pytest.mark.parametrize("case", ["no detections", "one camera", "never consistent"])
def test_bundle_of_a_scene_without_any_fix_is_empty_with_reasons(case):
    p, cases = _cases()
    cams, cands, reason = cases[case]
    out = solve_scene(cams, cands, p.fps, PARAMS)
    assert set(out["tracks"]) == ALL_METHODS
    for name, t in out["tracks"].items():
        if case == "never consistent" and name == "dlt":
            assert len(t["frames"]) == N  # the baseline triangulates whatever it gets: that is its flaw
            continue
        assert t["frames"] == [] and t["xyz"] == [], name
        assert sorted(t["meta"]["missing"], key=int) == [str(i) for i in range(N)], name  # every frame, a reason
    for key in ("ransac", "ransac_seq", "graph_smoothed", "graph_smoothed_skew"):
        assert all(reason in r for r in out["tracks"][key]["meta"]["missing"].values()), key
    for level in ("per_frame", "sequence"):
        assert out["association"][level]["solved"] == 0
        assert any(reason in r for r in out["association"][level]["missing_by_reason"])


def test_graph_streaming_and_sequence_association_of_empty_input():
    p, cases = _cases()
    cams, cands, _ = cases["no detections"]
    for assoc in (associate(cams, cands, AssocConfig()), associate_sequence(cams, cands, AssocConfig(), p.fps)):
        assert all(f.xyz is None for f in assoc.fixes) and len(assoc.fixes) == N
        for cfg in (BundleConfig(), BundleConfig(motion_prior=False), BundleConfig(estimate_skew=True)):
            res = solve(cams, assoc, cfg, p.fps)
            assert res.track.frames == [] and len(res.track.meta["missing"]) == N
        filt, lag = stream(cams, assoc, BundleConfig(), p.fps, lag_frames=4)
        assert filt.frames == lag.frames == [] and len(filt.meta["missing"]) == N


@pytest.fixture()
def empty_scene(tmp_path):
    """A scene on disk whose detections file holds no candidate at all."""
    p = make_problem(n_cameras=3, n_frames=N, seed=1)
    truth = to_truth(p, "test_empty")
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    (tmp_path / "cams").mkdir()
    for c in p.cameras:
        c.save(tmp_path / "cams" / f"{c.name}.json")
    det = {"scene_id": "test_empty", "detector": "heatmap", "per_camera": {c.name: [[] for _ in range(N)]
                                                                           for c in p.cameras}}
    (tmp_path / "det.json").write_text(json.dumps(det))
    return tmp_path


def test_metrics_and_plots_of_an_empty_track_say_so(empty_scene):
    payload = run_bundle(str(empty_scene / "truth.json"), str(empty_scene / "cams"), str(empty_scene / "det.json"),
                         {**PARAMS, "cameras": "calibrated"})
    (empty_scene / "b.json").write_text(json.dumps(payload))
    out = run_metrics([str(empty_scene / "b.json")], [str(empty_scene / "truth.json")], str(empty_scene / "m.json"))
    text = (empty_scene / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON
    saved = json.loads(text)
    for m, v in saved["scenes"][0]["methods"].items():
        assert v["coverage"] == 0.0 and v["n_frames"] == 0 and v["rmse_m"] is None, m
    assert saved["overall"]["graph_smoothed"]["mean_coverage"] == 0.0 and out["scenes"][0]["observable_frames"] > 0
    pngs = {k: empty_scene / f"{k}.png" for k in ("trajectory", "errors", "detections")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        note = run_plots(str(empty_scene / "b.json"), str(empty_scene / "truth.json"), str(empty_scene / "det.json"),
                         str(empty_scene / "cams"), "calibrated", None, {k: str(v) for k, v in pngs.items()})
    assert note == "no 3D estimate in any frame (detections in 0 camera(s))"
    assert not [w for w in caught if "legend" in str(w.message)]
    assert all(v.stat().st_size > 1000 for v in pngs.values())


class NoBall(nn.Module):
    """A detector that never answers: logit -10 everywhere (sigmoid 4.5e-5 < min_score)."""

    def __init__(self):
        super().__init__()
        self.cfg = DetectorConfig(n_frames=1, use_foreground=True, color=False, scale=1.0, input_source="video")
        self.bias = nn.Parameter(torch.tensor(-10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x[:, :1]) + self.bias  # (B, 1, H, W)


@pytest.mark.parametrize("n_cams", [3, 1])
def test_roi3d_that_never_acquires_the_ball_returns_empty_candidates(n_cams):
    cams = ring_cameras(n_cams, width=64, height=48, focal_px=50.0)
    zeros = np.zeros((6, 48, 64), np.float32)
    clips = [CameraClip(c.name, zeros, zeros, (64, 48)) for c in cams]
    per, st = detect_scene_roi3d(NoBall().eval(), clips, cams, DetectParams(mode="roi3d", roi_size=16, full_every=0),
                                 25.0, assoc_config({}, 64))
    assert st["scene"]["frames_with_3d_fix"] == 0
    assert all(per[c.name] == [[]] * 6 for c in cams)
    assert all(st[c.name]["full_frames"] == 6 and st[c.name]["roi_frames"] == 0 for c in cams)


def test_detection_metrics_without_positives_and_plot_without_detectors(tmp_path):
    truth = {"scene_id": "s", "per_camera": {"c": {"uv": [None] * 4, "visible_fraction": [0.0] * 4,
                                                   "blur_px": [0.0] * 4, "low_light": False}}}
    silent = evaluate([(truth, {"c": [[]] * 4})], MetricParams())["overall"]
    assert (silent["tp"], silent["fp"], silent["fn"], silent["tn"]) == (0, 0, 0, 4)
    assert silent["precision"] == silent["recall"] == silent["topk_recall"] == 1.0
    wrong = evaluate([(truth, {"c": [[[5.0, 5.0, 0.9]]] * 4})], MetricParams())["overall"]
    assert wrong["fp"] == 4 and wrong["precision"] == 0.0 and wrong["f1"] == 0.0
    plot_f1({"detectors": {}, "metric_params": {"tol_px": 5.0}}, str(tmp_path / "f1.png"))  # only real scenes
    assert (tmp_path / "f1.png").stat().st_size > 1000
