"""Phase libraries of bundle / evaluate_vision: metrics, bad input, sweeps and plots on synthetic scenes."""
import json

import numpy as np
import pytest

from ball3d.evaluation.metrics import (
    mean_over_seeds,
    method_metrics,
    p95,
    rmse,
)
from ball3d.evaluation.phase import run_metrics, run_plots, run_sweeps_phase
from ball3d.evaluation.synth import candidates_to_contract, make_problem, to_truth
from ball3d.fusion.phase import run_bundle
from pipeutil.io import PipelineError

FAST = {"cameras": "calibrated", "streaming": {"enabled": True, "lag_frames": 6, "innovation_gate_m": 0.3},
        "association": {"sequence": False, "min_score": 0.0}}  # per-frame association, every candidate


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A synthetic scene on disk: truth.json, calibrated cameras folder, detections file."""
    root = tmp_path_factory.mktemp("scene")
    p = make_problem(n_cameras=3, n_frames=50, noise_px=1.0, false_rate=1.0, occlusion_prob=0.1, seed=21,
                     kick_frame=35)
    truth = to_truth(p, "test_21")
    (root / "truth.json").write_text(json.dumps(truth))
    (root / "cams").mkdir()
    for c in p.cameras:
        c.save(root / "cams" / f"{c.name}.json")
    det = {"scene_id": "test_21", "detector": "heatmap", "per_camera": candidates_to_contract(p.candidates)}
    (root / "det.json").write_text(json.dumps(det))
    return root, p, truth


def test_metrics_are_plain_functions():
    err = np.array([0.0, 0.03, 0.04])
    assert rmse(err) == pytest.approx(np.sqrt((0.0009 + 0.0016) / 3))
    assert p95(np.arange(101) / 100) == pytest.approx(0.95)
    truth = np.zeros((4, 3))
    obs = np.array([True, True, False, False])
    m = method_metrics({"frames": [0, 2], "xyz": [[0, 0, 0.1], [0, 0, 0]], "meta": {}}, truth, obs)
    assert m["coverage"] == 0.5 and m["invented"] == 1 and m["rmse_m"] == pytest.approx(np.sqrt(0.005))
    m2 = method_metrics({"frames": [2], "xyz": [[0, 0, 0]], "meta": {"interpolated": [2]}}, truth, obs)
    assert m2["invented"] == 0


def test_bundle_then_metrics_on_a_scene(scene, tmp_path):
    root, _, _ = scene
    timing = {}
    payload = run_bundle(str(root / "truth.json"), str(root / "cams"), str(root / "det.json"), FAST, timing)
    assert set(payload["tracks"]) == {"dlt", "ransac", "graph_robust", "graph_smoothed", "streaming_filtered",
                                      "streaming_fixed_lag"}
    assert timing["fusion_ms_per_frame"] > 0 and timing["graph_smoothed_s"] > 0
    assert "fusion_ms_per_frame" not in payload and "timing_s" not in payload  # wall clock: not in the result
    (tmp_path / "b.json").write_text(json.dumps(payload, default=lambda o: o.tolist()))
    out = run_metrics([str(tmp_path / "b.json")], [str(root / "truth.json")], str(tmp_path / "m.json"))
    o = out["overall"]
    assert o["graph_smoothed"]["rmse_m"] < o["ransac"]["rmse_m"] < o["dlt"]["rmse_m"]
    assert o["graph_smoothed"]["rmse_m"] < 0.04 and out["scenes"][0]["methods"]["ransac"]["invented"] == 0
    assert json.loads((tmp_path / "m.json").read_text())["scenes"][0]["scene_id"] == "test_21"
    plots = {k: str(tmp_path / f"{k}.png") for k in ("trajectory", "errors", "detections")}
    run_plots(str(tmp_path / "b.json"), str(root / "truth.json"), str(root / "det.json"), str(root / "cams"),
              "calibrated", None, plots)  # videos are absent: blank canvas, still a plot
    assert all((tmp_path / f"{k}.png").stat().st_size > 1000 for k in plots)


def test_bad_inputs_are_clear_errors(scene, tmp_path):
    root, p, _ = scene
    det = json.loads((root / "det.json").read_text())
    (tmp_path / "other.json").write_text(json.dumps({**det, "scene_id": "test_99"}))
    with pytest.raises(PipelineError, match="test_99"):
        run_bundle(str(root / "truth.json"), str(root / "cams"), str(tmp_path / "other.json"), FAST)
    short = {**det, "per_camera": {k: v[:10] for k, v in det["per_camera"].items()}}
    (tmp_path / "short.json").write_text(json.dumps(short))
    with pytest.raises(PipelineError, match="frame counts"):
        run_bundle(str(root / "truth.json"), str(root / "cams"), str(tmp_path / "short.json"), FAST)
    cams = tmp_path / "cams"
    cams.mkdir()
    for c in p.cameras:
        d = c.to_dict()
        d["width"], d["height"] = 1280, 720
        d["K"] = [[1000, 0, 640], [0, 1000, 360], [0, 0, 1]]
        (cams / f"{c.name}.json").write_text(json.dumps(d))
    with pytest.raises(PipelineError, match="does not match the video"):
        run_bundle(str(root / "truth.json"), str(cams), str(root / "det.json"), FAST)
    (cams / "cam0.json").write_text("{not json")
    with pytest.raises(PipelineError, match="cam0.json"):
        run_bundle(str(root / "truth.json"), str(cams), str(root / "det.json"), FAST)
    with pytest.raises(PipelineError, match="unknown keys"):
        run_bundle(str(root / "truth.json"), str(root / "cams"), str(root / "det.json"), {"graph": {"sigma": 1}})


def test_metrics_refuse_mismatched_pairs(scene, tmp_path):
    root, _, _ = scene
    (tmp_path / "b.json").write_text(json.dumps({"scene_id": "test_1", "tracks": {}}))
    with pytest.raises(PipelineError, match="does not match"):
        run_metrics([str(tmp_path / "b.json")], [str(root / "truth.json")], str(tmp_path / "m.json"))
    assert not (tmp_path / "m.json").exists()


def test_sweeps_degrade_with_noise_and_write_outputs(tmp_path):
    cfg = {"sweeps": {"n_frames": 30, "seeds": [0], "base": {"n_cameras": 3, "noise_px": 1.0},
                      "axes": {"noise_px": [0.5, 4.0]}, "plot_methods": ["ransac", "graph_smoothed"]},
           "targets": {"n_frames": 30, "seeds": [0]}}
    solver = {"streaming": {"enabled": False, "lag_frames": 5, "innovation_gate_m": 0.3}}
    out = run_sweeps_phase(cfg, solver, str(tmp_path / "s.json"), str(tmp_path / "s.png"))
    mean = {(r["value"], r["method"]): r["rmse_m"] for r in out["sweeps_mean"]}
    assert mean[(4.0, "ransac")] > 2 * mean[(0.5, "ransac")]
    assert set(out["targets"]) == {"rmse_3views_1px_ransac", "rmse_3views_1px_graph_smoothed",
                                   "rmse_8views_1px_ransac"}
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert len(mean_over_seeds(out["sweeps"])) == len(out["sweeps_mean"])
