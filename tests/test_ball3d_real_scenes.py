"""Real footage through `scenes.real`: a rendered scene turned into user files (mp4 videos, clicked
landmarks, file: URIs) is materialised as a scene folder without ground truth and calibrated."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from repo_copy import copy_repo
from smoke_inputs import smoke_scenes_cfg, write_real_inputs
from test_workflow_dag import run

from ball3d.calibration.calibrate import camera_errors
from ball3d.calibration.phase import calibrate_scene
from ball3d.camera import Camera
from ball3d.detection import phase as detrun
from ball3d.detection.inputs import load_truth
from ball3d.detection_metrics import MetricParams
from ball3d.evaluation import phase as eval3d_run
from ball3d.scene_io import load_cameras
from ball3d.scenes.generate import SceneSpec, generate_scene
from ball3d.scenes.real import (
    check_sources,
    materialise_real_scene,
    parse_real,
    real_scenes,
    video_job,
)
from ball3d.videoio import iter_frames, probe_video
from pipeutil.io import PipelineError
from pipeutil.sources import sha256_of

ROOT = Path(__file__).resolve().parents[1]
NAMES = {"cam0": "north", "cam1": "south"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A tiny rendered scene (2 cameras, 10 frames, 320x180) and its user-style inputs."""
    cfg = smoke_scenes_cfg(ROOT)
    cfg["cameras"]["count"] = 2
    cfg["n_frames"] = 10
    base = tmp_path_factory.mktemp("real")
    truth = generate_scene(SceneSpec("test", "test_4100", 4100), cfg, base / "rendered")
    cams = write_real_inputs(base / "rendered", base / "inputs", NAMES)
    return truth, cams, base / "inputs", cfg


def entry_of(rendered, **over) -> dict:
    _, cams, inputs, _ = rendered
    entry = {"scene_id": "match1", "fps": None, "frames": None, "cameras": copy.deepcopy(cams),
             "landmarks_px": f"file:{inputs / 'landmarks_px.json'}"}
    entry.update(over)
    return entry


def calib_cfg() -> dict:
    """Smoke calibration parameters with PnP on the clicks of landmarks_px.json as the extrinsics (what
    this test checks: the clicks reach the calibration; the pitch-line alignment has its own tests)."""
    cfg = yaml.safe_load((ROOT / "params.yaml").read_text())["calibrate"]
    cfg.update(yaml.safe_load((ROOT / "tests/params.smoke.yaml").read_text())["calibrate"])
    if "extrinsics" in cfg:
        cfg["extrinsics"] = "landmarks_truth"  # = PnP on landmarks_px.json clicks when the folder has them
    return cfg


@pytest.fixture(scope="module")
def materialised(rendered, tmp_path_factory):
    """The real scene folder (frames [2, 10) of the rendered scene) and its calibration."""
    base = tmp_path_factory.mktemp("materialised")
    scene = parse_real(entry_of(rendered, frames=[2, 10]), 0)
    out = base / "scenes" / "real" / "match1"
    truth = materialise_real_scene(scene, out, quality=rendered[3]["video_quality"])
    report = calibrate_scene(out, ["north", "south"], calib_cfg(), base / "calib")
    return scene, out, truth, base / "calib", report


def test_real_scene_folder_has_the_rendered_layout_without_ground_truth(rendered, materialised):
    cfg = rendered[3]
    scene, out, truth, _, _ = materialised
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["truth.json", "landmarks_px.json"] + [f"{p}{n}.avi" for n in NAMES.values() for p in ("", "calib_")])
    saved = json.loads((out / "truth.json").read_text())
    assert saved == truth
    assert saved["ground_truth"] is False and saved["split"] == "real" and saved["n_frames"] == 8
    assert saved["fps"] == pytest.approx(cfg["fps"])
    assert not {"ball_xyz", "cameras", "seed", "calib_board"} & set(saved)
    assert sorted(saved["per_camera"]) == ["north", "south"]
    assert all("uv" not in pc and (pc["width"], pc["height"]) == (320, 180) for pc in saved["per_camera"].values())
    first = next(iter_frames(out / "north.avi"))[1]  # frames [2, 10): the first kept frame is source frame 2
    src = next(f for i, f in iter_frames(Path(scene.cameras[0].video.uri[5:])) if i == 2)
    assert np.abs(first.astype(float) - src).mean() < 4.0
    assert probe_video(out / "calib_north.avi").n_frames == cfg["calib_video"]["n_frames"]
    clicks = json.loads((out / "landmarks_px.json").read_text())
    assert sorted(clicks) == ["north", "south"] and all(len(v) >= 6 for v in clicks.values())
    assert load_truth(out)["scene_id"] == "match1"  # the detector's reader accepts a truth without uv


def test_real_scene_calibrates_close_to_the_hidden_truth(rendered, materialised):
    truth_gt = rendered[0]
    _, _, _, calib_dir, report = materialised
    gts = {NAMES[c["name"]]: Camera.from_dict({**c, "name": NAMES[c["name"]]}) for c in truth_gt["cameras"]}
    for entry in report["cameras"]:
        assert entry["landmark_source"] == "clicked" and "errors_vs_truth" not in entry
        err = camera_errors(Camera.load(calib_dir / f"{entry['camera']}.json"), gts[entry["camera"]])
        assert err["focal_pct"] < 2.0 and err["rotation_deg"] < 0.75 and err["centre_cm"] < 100, err
        assert err["reprojection_vs_truth_px"] < 1.0, err  # measured 0.29 / 0.47 px at 320x180


def test_ground_truth_consumers_skip_or_refuse_a_real_scene(materialised, tmp_path):
    _, out, truth, calib_dir, _ = materialised
    det = {"scene_id": "match1", "detector": "classical", "per_camera": {n: [[]] * 8 for n in NAMES.values()}}
    (tmp_path / "classical.json").write_text(json.dumps(det))
    res = detrun.run_metrics([str(out)], {"classical": [str(tmp_path / "classical.json")]}, str(tmp_path / "m.json"),
                             str(tmp_path / "f1.png"), MetricParams())
    assert res["scenes"] == [] and res["skipped_no_truth"] == ["match1"] and res["detectors"] == {}
    tracks = {"scene_id": "match1", "tracks": {}}
    (tmp_path / "b.json").write_text(json.dumps(tracks))
    ev = eval3d_run.run_metrics([str(tmp_path / "b.json")], [str(out / "truth.json")], str(tmp_path / "e.json"))
    assert ev["scenes"] == []
    cams = load_cameras(calib_dir, truth, "calibrated")
    assert [c.name for c in cams] == ["north", "south"]
    with pytest.raises(PipelineError, match="no ground-truth cameras; set bundle.cameras: calibrated"):
        load_cameras(calib_dir, truth, "truth")


def test_fps_from_params_and_video_jobs(rendered):
    scenes_cfg = {"video_quality": 90, "real": [entry_of(rendered, fps=30.0, frames=[0, 4])]}
    (scene,) = real_scenes(scenes_cfg)
    assert scene.camera_names == ["north", "south"] and scene.fps == 30.0
    job = video_job(scenes_cfg, "match1", "calib_south")
    assert job["where"] == "scenes.real[0].cameras.south.calib_video" and job["frames"] is None
    assert video_job(scenes_cfg, "match1", "north")["frames"] == [0, 4]
    with pytest.raises(PipelineError, match=r"scenes\.real\[0\]: no camera video named east\.avi"):
        video_job(scenes_cfg, "match1", "east")
    with pytest.raises(PipelineError, match=r"scenes\.real: scene ids \['match1'\] are used more than once"):
        real_scenes({"real": scenes_cfg["real"] * 2})


def _copy_video(src: str, dst: Path, fps: float, keep: int | None = None) -> str:
    info = probe_video(src)
    w = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"MJPG"), fps, (info.width, info.height))
    for i, frame in iter_frames(src):
        if keep is None or i < keep:
            w.write(frame)
    w.release()
    return f"file:{dst}"


def _bad(rendered, tmp_path, case: str) -> dict:
    entry = entry_of(rendered)
    cams, inputs = entry["cameras"], rendered[2]
    south = cams["south"]["video"][len("file:"):]
    if case == "missing":
        cams["south"]["video"] = f"file:{tmp_path / 'nope.mp4'}"
    elif case == "unreadable":
        (tmp_path / "junk.mp4").write_bytes(b"not a video" * 100)
        cams["south"]["video"] = f"file:{tmp_path / 'junk.mp4'}"
    elif case == "fps":
        cams["south"]["video"] = _copy_video(south, tmp_path / "south30.avi", 30.0)
    elif case == "count":
        cams["south"]["video"] = _copy_video(south, tmp_path / "south_short.avi", 25.0, keep=6)
    elif case == "sha":
        cams["north"]["sha256"] = {"video": "0" * 64}
    elif case in ("landmark", "camera"):
        clicks = json.loads((inputs / "landmarks_px.json").read_text())
        if case == "landmark":
            clicks["north"]["centre_spott"] = [10.0, 10.0]
        else:
            clicks["east"] = clicks["north"]
        (tmp_path / "lm.json").write_text(json.dumps(clicks))
        entry["landmarks_px"] = f"file:{tmp_path / 'lm.json'}"
    elif case == "scheme":
        cams["north"]["video"] = "pypi:somepkg==1.0"
    return entry


@pytest.mark.parametrize("case, message", [
    ("missing", r"scenes\.real\[0\]\.cameras\.south\.video: file .*nope\.mp4 not found"),
    ("unreadable", r"scenes\.real\[0\]\.cameras\.south\.video: .*junk\.mp4: cannot open video"),
    ("fps", (r"scenes\.real\[0\]: the cameras' videos have different frame rates .*cameras\.south\.video.*"
             r"set scenes\.real\[0\]\.fps")),
    ("count", r"scenes\.real\[0\]: the cameras' videos have different frame counts .*scenes\.real\[0\]\.frames"),
    ("sha", r"scenes\.real\[0\]\.cameras\.north\.video: .*north\.mp4 has sha256 [0-9a-f]{64}, params\.yaml expects 0+"),
    ("landmark", (r"scenes\.real\[0\]\.landmarks_px: .*lm\.json: camera 'north': unknown landmark 'centre_spott' "
                  r"\(did you mean 'centre_spot'\?\)")),
    ("camera", (r"scenes\.real\[0\]\.landmarks_px: .*lm\.json names cameras \['east'\] that are not in "
                r"scenes\.real\[0\]\.cameras")),
    ("scheme", r"scenes\.real\[0\]\.cameras\.north\.video: real footage is read from 'file:<path>' sources"),
])
def test_bad_input_names_the_parameter_and_writes_nothing(rendered, tmp_path, case, message):
    scene = parse_real(_bad(rendered, tmp_path, case), 0)
    out = tmp_path / "out" / "match1"
    with pytest.raises(PipelineError, match=message):
        materialise_real_scene(scene, out)
    assert not out.exists()


def test_given_fps_overrides_mismatching_headers_and_checksums_pass(rendered, tmp_path):
    entry = _bad(rendered, tmp_path, "fps")
    entry["fps"] = 25.0
    north = entry["cameras"]["north"]
    north["sha256"] = {"video": sha256_of(north["video"][5:]), "calib_video": sha256_of(north["calib_video"][5:])}
    check_sources(parse_real(entry, 0))  # no error
    with pytest.raises(PipelineError, match=r"scenes\.real\[0\]\.frames: need 0 <= start < stop"):
        parse_real({**entry, "frames": [5, 5]}, 0)
    with pytest.raises(PipelineError, match=r"cameras\.north\.video: .* has 10 frames; scenes\.real\[0\]\.frames"):
        check_sources(parse_real({**entry, "frames": [0, 12]}, 0))


def test_snakemake_rules_materialise_a_real_scene_and_fail_cleanly(rendered, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    entry = entry_of(rendered, frames=[0, 6])
    (repo / "real.yaml").write_text(yaml.safe_dump({"scenes": {"real": [entry]}}))
    truth = repo / "results/scenes/real/match1/truth.json"
    run(["snakemake", str(truth.relative_to(repo)), "--cores", "2", "--configfile", "real.yaml"], repo)
    saved = json.loads(truth.read_text())
    assert saved["ground_truth"] is False and saved["n_frames"] == 6
    assert sorted(saved["per_camera"]) == ["north", "south"]
    dry = run(["snakemake", "-n", "--cores", "1", "results/calibrate/real/match1", "--configfile", "real.yaml"], repo)
    assert "calibrate_scene" in dry.stdout

    clicks = json.loads((rendered[2] / "landmarks_px.json").read_text())
    (tmp_path / "lm.json").write_text(json.dumps({**clicks, "east": clicks["north"]}))
    entry["landmarks_px"] = f"file:{tmp_path / 'lm.json'}"
    (repo / "real.yaml").write_text(yaml.safe_dump({"scenes": {"real": [entry]}}))
    proc = run(["snakemake", str(truth.relative_to(repo)), "--cores", "1", "--configfile", "real.yaml"], repo,
               check=False)
    assert proc.returncode != 0
    log = (repo / "logs/real_scene/match1.log").read_text()
    assert "scenes.real[0].landmarks_px" in log and "['east']" in log
    assert not truth.exists()
