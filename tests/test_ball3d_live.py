"""Live tracker (ball3d.live): on a tiny rendered scene the live track equals the batch streaming path
bit for bit when nothing is dropped; bad sources are clear errors or reported degradations, and a file
output never looks complete when it is not."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_ball_scene import tiny_ball_scene

from ball3d.camera import Camera
from ball3d.detection.analytic import write_analytic_checkpoint
from ball3d.detection.inputs import load_prep_clip
from ball3d.detection.network import DetectorConfig, load_checkpoint
from ball3d.detection.phase import configs
from ball3d.live.__main__ import load_params, main
from ball3d.live.run import pixel_scaled, run_live
from ball3d.live.tracker import Ring, batch_track
from ball3d.preprocess.phase import preprocess_scene
from ball3d.videoio import read_video, write_video
from pipeutil.io import PipelineError

ROOT = Path(__file__).resolve().parents[1]
CAMS = ["cam0", "cam1", "cam2"]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """A rendered 3-camera scene (320x180, 16 frames), no players, a 0.4 m ball; calibration = true
    cameras; the hand-set detector (ball3d.detection.analytic) on pre-processed input at scale 0.5."""
    root = tmp_path_factory.mktemp("live")
    _, calib, truth = tiny_ball_scene(root)
    ckpt = root / "det.pt"
    write_analytic_checkpoint(ckpt, DetectorConfig(n_frames=2, use_foreground=True, color=True, width=6, scale=0.5,
                                                   input_source="preprocess"))
    params = load_params(str(ROOT / "params.yaml"))
    params["detect"].update(roi_size=32, full_every=10, checkpoint=None)
    params["preprocess"].update(backend="cpu", threads=1)
    return root / "scene", calib, ckpt, params, truth


def _sources(scene_dir, **over):
    return {c: str(over.get(c, scene_dir / f"{c}.avi")) for c in CAMS}


def test_ring_reads_like_an_array_and_falls_back_to_the_nearest_earlier_frame():
    r = Ring(3, (2,), np.float32)
    for i in (0, 1, 2, 4):  # frame 3 dropped; frame 0 has left the ring
        r.push(i, np.full(2, i, np.float32))
    assert r.shape == (4, 2) and r.ndim == 2
    assert r[4, 0] == 4 and r[3, 0] == 2 and r[2, 1] == 2 and r[0, 0] == 1  # 3 -> 2; 0 -> oldest kept (1)


def test_live_track_equals_the_batch_streaming_track(rig, tmp_path):
    scene_dir, calib, ckpt, params, truth = rig
    records: list[dict] = []
    res = run_live(_sources(scene_dir), calib, ckpt, params, records.append, pace="fast", queue_frames=2,
                   ball_radius_m=0.4)
    assert res.summary["complete"] and res.summary["frame_sets"] == 16 and res.summary["dropped_frame_sets"] == 0
    # the batch path: the preprocess phase's files, whole clips, the roi3d loop, then the smoother
    preprocess_scene(scene_dir, calib, CAMS, params["preprocess"], tmp_path / "prep")
    model, _ = load_checkpoint(ckpt)
    cams = [Camera.load(calib / f"{c}.json") for c in CAMS]
    clips = [load_prep_clip(tmp_path / "prep" / f"{c.name}.npz", c, 0.5, color=True) for c in cams]
    _, _, dp, _, _ = configs(params["train_detector"], params["detect"])
    acfg, gcfg = pixel_scaled(params, cams[0].width)
    s = params["bundle"]["streaming"]
    batch = batch_track(model, clips, cams, dp, acfg, gcfg, float(truth["fps"]), s["lag_frames"],
                        s["innovation_gate_m"], ball_radius_m=0.4)
    live = res.tracks
    assert len(batch[0].frames) >= 12  # the ball is tracked (it is not a comparison of two empty tracks)
    for b, lv in zip(batch, live):
        assert lv.frames == b.frames and lv.support == b.support and lv.meta["missing"] == b.meta["missing"]
        assert np.array_equal(np.asarray(lv.xyz), np.asarray(b.xyz))  # bit for bit
    frames = [r for r in records if r["type"] == "frame"]
    assert [r["frame"] for r in frames] == list(range(16)) and records[-1]["type"] == "summary"
    got = {r["frame"]: r["xyz"] for r in frames if r["xyz"] is not None}
    assert got == {f: np.round(x, 6).tolist() for f, x in zip(batch[0].frames, np.asarray(batch[0].xyz))}
    finals = {f["frame"]: f["xyz"] for r in frames for f in r["final"]}
    lag = dict(zip(batch[1].frames, np.round(np.asarray(batch[1].xyz), 6).tolist()))
    assert finals and all(finals[k] == lag[k] for k in finals)  # the values announced final are the fixed-lag track's
    r = next(r for r in frames if r["xyz"] is not None)
    assert set(r["latency_ms"]) == {"decode", "queue", "preprocess", "detect", "associate", "smoother", "total"}
    assert np.asarray(r["cov"]).shape == (3, 3) and r["views"]
    err = np.linalg.norm(np.asarray(live[1].xyz) - np.asarray(truth["ball_xyz"])[live[1].frames], axis=1)
    assert np.median(err) < 0.5  # on the ball, not on something else


def test_a_source_that_cannot_be_opened_is_an_error_naming_it_and_writes_nothing(rig, tmp_path, capsys):
    scene_dir, calib, ckpt, _, _ = rig
    bad = tmp_path / "nope.avi"
    with pytest.raises(PipelineError, match=r"nope\.avi.*cam1.*cannot be opened"):
        run_live(_sources(scene_dir, cam1=bad), calib, ckpt, load_params(str(ROOT / "params.yaml")), print)
    out = tmp_path / "out.jsonl"
    code = main(["--cameras", str(calib), "--checkpoint", str(ckpt), "--params", str(ROOT / "params.yaml"),
                 "--out", str(out), *[f"{c}={s}" for c, s in _sources(scene_dir, cam1=bad).items()]])
    assert code == 1 and not out.exists() and "nope.avi" in capsys.readouterr().err


def test_a_source_that_ends_early_is_a_reported_degradation(rig, tmp_path):
    scene_dir, calib, ckpt, params, _ = rig
    short = tmp_path / "cam2.avi"
    write_video(short, read_video(scene_dir / "cam2.avi")[:7], 25.0)
    out = tmp_path / "out.jsonl"
    code = main(["--cameras", str(calib), "--checkpoint", str(ckpt), "--params", str(ROOT / "params.yaml"),
                 "--out", str(out), *[f"{c}={s}" for c, s in _sources(scene_dir, cam2=short).items()]])
    lines = [json.loads(s) for s in out.read_text().splitlines()]
    assert code == 2 and [r["frame"] for r in lines[:-1]] == list(range(7))
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["complete"] is False
    assert "cam2" in summary["stop_reason"] and "stopped after 7 frames" in summary["stop_reason"]


def test_unequal_frame_rates_are_an_error(rig, tmp_path):
    scene_dir, calib, ckpt, params, _ = rig
    slow = tmp_path / "cam0.avi"
    write_video(slow, read_video(scene_dir / "cam0.avi"), 12.5)
    with pytest.raises(PipelineError, match=r"unequal frame rates.*cam0\.avi.*12\.5"):
        run_live(_sources(scene_dir, cam0=slow), calib, ckpt, params, print)


def test_a_calibration_for_another_image_size_is_an_error_naming_source_and_file(rig, tmp_path):
    scene_dir, calib, ckpt, params, _ = rig
    small = tmp_path / "cam1.avi"
    write_video(small, read_video(scene_dir / "cam1.avi")[:, ::2, ::2].copy(), 25.0)
    with pytest.raises(PipelineError, match=r"cam1\.avi.*160x90.*cam1\.json.*320x180"):
        run_live(_sources(scene_dir, cam1=small), calib, ckpt, params, print)


def test_ctrl_c_closes_cleanly_with_a_summary_saying_so(rig):
    scene_dir, calib, ckpt, params, _ = rig
    seen: list[dict] = []

    def emit(rec):
        seen.append(rec)
        if rec.get("frame") == 3 and rec["type"] == "frame":
            raise KeyboardInterrupt

    res = run_live(_sources(scene_dir), calib, ckpt, params, emit)
    assert res.summary["stop_reason"] == "interrupted (Ctrl-C)" and not res.summary["complete"]
    assert seen[-1]["type"] == "summary" and res.summary["frame_sets"] == 3


def test_falling_behind_real_time_drops_whole_frame_sets_and_counts_them(rig):
    scene_dir, calib, ckpt, params, _ = rig
    seen: list[dict] = []

    def slow(rec):  # a consumer 3x slower than the 25 fps sources
        seen.append(rec)
        time.sleep(0.12)

    res = run_live(_sources(scene_dir), calib, ckpt, params, slow, pace="realtime", queue_frames=1)
    frames = [r["frame"] for r in seen if r["type"] == "frame"]
    assert res.summary["dropped_frame_sets"] > 0 and len(frames) + res.summary["dropped_frame_sets"] <= 16
    assert frames == sorted(set(frames)) and seen[-1]["dropped_frame_sets"] == res.summary["dropped_frame_sets"]


def test_live_phase_writes_track_records_overlay_and_is_scored_beside_batch(rig, tmp_path):
    from ball3d.evaluation.phase import run_evaluate_vision_live, run_metrics
    from ball3d.live.phase import run_live_overlay, run_live_scene_rule
    from ball3d.records import Track3D  # noqa: F401  (the layout of the tracks)

    scene_dir, calib, ckpt, params, truth = rig
    live = {"pace": "fast", "queue_frames": 2, "threads": 1, "covariance": True, "trail_frames": 4}
    out = {k: str(tmp_path / n) for k, n in (("t", "track.json"), ("r", "records.jsonl"), ("m", "timing.json"))}
    s = run_live_scene_rule(str(scene_dir / "truth.json"), str(calib), str(ckpt), params, live, 1,
                            out["t"], out["r"], out["m"])
    assert s["complete"] and s["frame_sets"] == 16
    track = json.loads(Path(out["t"]).read_text())
    assert set(track["tracks"]) == {"live_filtered", "live_fixed_lag"} and "latency_ms" not in json.dumps(track)
    assert json.loads(Path(out["r"]).read_text().splitlines()[-1])["type"] == "summary"
    assert set(json.loads(Path(out["m"]).read_text())["latency_ms"]) >= {"total", "detect", "smoother"}
    videos = {c: str(tmp_path / "ov" / f"{c}.avi") for c in CAMS}
    run_live_overlay(str(scene_dir / "truth.json"), str(calib), out["t"], out["r"], 4, videos, str(tmp_path / "top.png"))
    assert all(read_video(v).shape == (16, 180, 320, 3) for v in videos.values()) and (tmp_path / "top.png").stat().st_size
    # evaluate_vision: the live tracks beside a batch track (here the live fixed-lag track itself: ratio 1)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"scene_id": truth["scene_id"],
                                  "tracks": {"streaming_fixed_lag": track["tracks"]["live_fixed_lag"]}}))
    m = run_metrics([str(bundle)], [str(scene_dir / "truth.json")], str(tmp_path / "metrics.json"),
                    str(tmp_path / "scenes.md"), ("streaming_fixed_lag", "live_fixed_lag"), [out["t"]])
    assert {"live_filtered", "live_fixed_lag", "streaming_fixed_lag"} <= set(m["overall"])
    assert m["live_vs_batch"]["rmse_ratio"] == 1.0 and m["live_vs_batch"]["within_20pct"] is True
    assert "live_fixed_lag" in (tmp_path / "scenes.md").read_text()
    lat = run_evaluate_vision_live([out["r"]], str(tmp_path / "metrics.json"), str(tmp_path / "lat.json"),
                                   str(tmp_path / "live.md"))
    assert lat["latency_ms"]["total"]["n"] == 16 and "RMSE ratio live / batch: 1.000" in (tmp_path / "live.md").read_text()
    with pytest.raises(PipelineError, match="no bundle output"):  # a live track of a scene nobody solved
        run_metrics([], [], str(tmp_path / "m2.json"), None, ("graph_smoothed",), [out["t"]])


def test_live_phase_refuses_a_scene_whose_source_ends_early_and_writes_nothing(rig, tmp_path):
    import shutil

    from ball3d.live.phase import run_live_scene

    scene_dir, calib, ckpt, params, _ = rig
    copy_dir = tmp_path / "scene"
    shutil.copytree(scene_dir, copy_dir)
    write_video(copy_dir / "cam1.avi", read_video(scene_dir / "cam1.avi")[:9], 25.0)
    out = [str(tmp_path / n) for n in ("track.json", "records.jsonl", "timing.json")]
    live = {"pace": "fast", "queue_frames": 2, "threads": 1, "covariance": False}
    with pytest.raises(PipelineError, match=r"cam1\.avi.*stopped after 9 frames"):
        run_live_scene(str(copy_dir / "truth.json"), str(calib), str(ckpt), params, live, *out)
    assert not any(Path(p).exists() for p in out)


def test_close_gives_up_on_a_reader_blocked_in_its_decoder_after_the_deadline():
    import threading

    from ball3d.live.sources import FrameSets, Source

    release = threading.Event()

    class _Stalled:  # a network stream whose read never returns until released
        def read(self):
            release.wait(30)
            return False, None

        def release(self):
            pass

    src = Source("cam0", "rtsp://stalled", _Stalled(), 25.0, (8, 8), 0, False)
    sets = FrameSets([src], queue_frames=2, policy="drop", pace=False)
    start = time.monotonic()
    stuck = sets.close(deadline_s=0.5)
    assert stuck == ["cam0"] and time.monotonic() - start < 3.0  # closed on time, the blocked reader named
    release.set()
    src.thread.join(5)
    assert not src.thread.is_alive()
