"""Phase libraries of bundle / evaluate_vision: metrics, bad input, sweeps and plots on synthetic scenes."""
import json

import numpy as np
import pytest

from ball3d.evaluation.metrics import (
    evaluate_all,
    mean_over_seeds,
    method_metrics,
    p95,
    rmse,
    scene_table,
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


def _pair(scene_id: str, offset: np.ndarray, n: int = 10, drop: tuple = ()) -> tuple[dict, dict]:
    """A bundle payload whose graph_smoothed track is the truth + offset (m) in every frame but ``drop``."""
    xyz = np.stack([np.arange(n) * 0.5, np.zeros(n), np.full(n, 0.11)], 1)  # (n, 3)
    frames = [i for i in range(n) if i not in drop]
    cam = {"uv": [[100.0, 100.0]] * n, "visible_fraction": [1.0] * n}
    truth = {"scene_id": scene_id, "n_frames": n, "ball_xyz": xyz.tolist(), "per_camera": {"a": cam, "b": cam}}
    track = {"frames": frames, "xyz": (xyz[frames] + offset[frames]).tolist(), "meta": {}}
    return {"scene_id": scene_id, "tracks": {"graph_smoothed": track}}, truth


def test_headline_shows_the_scene_on_the_wrong_object():
    """Issue 16: a pooled RMSE hides which scene failed; the headline names it and counts the wrong fixes."""
    n = 10
    good = np.full((n, 3), 0.0)
    good[:, 0] = 0.01  # 1 cm off
    wrong = good.copy()
    wrong[6:, 1] = 12.0  # the last 4 frames on another object, 12 m away
    res = evaluate_all([_pair("s0", good), _pair("s1", good, drop=(3, 4)), _pair("s2", wrong)])
    m = res["scenes"][2]["methods"]["graph_smoothed"]
    assert m["wrong_fixes"] == 4 and m["missing"] == 0 and m["median_m"] == pytest.approx(0.01)
    assert res["scenes"][1]["methods"]["graph_smoothed"]["missing"] == 2
    h = res["headline"]["graph_smoothed"]
    assert h["worst_scene"] == "s2" and h["scenes_rmse_above_wrong_fix"] == 1 and h["scenes"] == 3
    assert h["median_scene_rmse_m"] == pytest.approx(0.01)  # two of three scenes are right
    assert h["wrong_fixes"] == 4 and h["returned_frames"] == 28 and h["wrong_fix_rate"] == pytest.approx(4 / 28)
    assert h["rmse_all_frames_m"] == pytest.approx(np.sqrt(4 * 144 / 28), rel=1e-3) and h["missing_frames"] == 2
    table = scene_table(res, "graph_smoothed")
    assert "| s2 |" in table and "worst scene s2" in table and "wrong fixes 4 of 28" in table
    assert [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| s") and "scene" not in line] == ["| s0", "| s1", "| s2"]


def test_bundle_then_metrics_on_a_scene(scene, tmp_path):
    root, _, _ = scene
    timing = {}
    payload = run_bundle(str(root / "truth.json"), str(root / "cams"), str(root / "det.json"), FAST, timing)
    assert set(payload["tracks"]) == {"dlt", "ransac", "graph_robust", "graph_smoothed", "streaming_filtered",
                                      "streaming_fixed_lag"}
    assert timing["fusion_ms_per_frame"] > 0 and timing["graph_smoothed_s"] > 0
    assert "fusion_ms_per_frame" not in payload and "timing_s" not in payload  # wall clock: not in the result
    (tmp_path / "b.json").write_text(json.dumps(payload, default=lambda o: o.tolist()))
    out = run_metrics([str(tmp_path / "b.json")], [str(root / "truth.json")], str(tmp_path / "m.json"),
                      str(tmp_path / "t.md"), ("graph_smoothed", "ransac"))
    assert "| test_21 |" in (tmp_path / "t.md").read_text() and "`ransac`" in (tmp_path / "t.md").read_text()
    with pytest.raises(PipelineError, match="table_methods"):
        run_metrics([str(tmp_path / "b.json")], [str(root / "truth.json")], str(tmp_path / "m2.json"),
                    str(tmp_path / "t2.md"), ("bogus",))
    assert not (tmp_path / "t2.md").exists() and not (tmp_path / "m2.json").exists()
    o = out["overall"]
    assert o["graph_smoothed"]["rmse_m"] < o["ransac"]["rmse_m"] < o["dlt"]["rmse_m"]
    assert o["graph_smoothed"]["rmse_m"] < 0.04 and out["scenes"][0]["methods"]["ransac"]["invented"] == 0
    assert json.loads((tmp_path / "m.json").read_text())["scenes"][0]["scene_id"] == "test_21"
    d3 = {"paths": [str(root / "det.json")], "camera_dirs": [str(root / "cams")], "method": "graph_smoothed",
          "radius_px": 4.0, "metric_params": {}}
    res = run_metrics([str(tmp_path / "b.json")], [str(root / "truth.json")], str(tmp_path / "m3.json"),
                      detections=d3)["detection_3d"]
    raw, with3d = res["raw"]["overall"], res["with_3d"]["overall"]
    assert raw["n"] == with3d["n"] > 0 and set(res["raw"]["per_scene_f1"]) == {"test_21"}
    assert with3d["tp"] >= raw["tp"] and with3d["fp"] <= raw["fp"]  # the 3D track only promotes the ball's candidate
    assert "detection_3d" in json.loads((tmp_path / "m3.json").read_text())
    with pytest.raises(PipelineError, match="detection_3d.method"):
        run_metrics([str(tmp_path / "b.json")], [str(root / "truth.json")], str(tmp_path / "m4.json"),
                    detections={**d3, "method": "graph_smoothed_skew"})
    assert not (tmp_path / "m4.json").exists()
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
