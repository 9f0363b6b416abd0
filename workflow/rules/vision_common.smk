# Decisions of the vision branch: its input functions and the values its rule files share, in one place
# (included before the vision rule files; workflow/rules/common.smk holds what both branches use).
from ball3d.scenes.real import find_real, real_scenes, video_job  # noqa: E402
from ball3d.scenes.generate import camera_names, scene_specs  # noqa: E402

from pipeutil.io import PipelineError  # noqa: E402

SCENE_CAMS = camera_names(config["scenes"])
REAL_CAMS = {s.scene_id: s.camera_names for s in real_scenes(config["scenes"])}


def scene_cams(split, scene_id):
    """Camera names of one scene: the rendered rig's, or a real scene's own (scenes.real)."""
    return REAL_CAMS[scene_id] if split == "real" else SCENE_CAMS


def scene_files(split, scene_id):
    """truth.json (first: scripts take its folder) and every camera's scene and calibration video."""
    base = f"results/scenes/{split}/{scene_id}"
    files = [f"{base}/truth.json"]
    if split == "real":
        files.append(f"{base}/landmarks_px.json")
    cams = scene_cams(split, scene_id)
    return files + [f"{base}/{p}{c}.avi" for c in cams for p in ("", "calib_")]


def all_scenes():
    """(split, scene_id) of every rendered scene (params `scenes.splits`), then every real one."""
    rendered = [(s.split, s.scene_id) for s in scene_specs(config["scenes"])]
    return rendered + [("real", sc) for sc in REAL_CAMS]


def plot_scene():
    """The scene shown in the report: the first test scene (else the first scene)."""
    scenes = all_scenes()
    return next((s for s in scenes if s[0] == "test"), scenes[0])


def real_video_source(wc):
    """The `file:` source of one video of a real scene (scenes.real[i].cameras.<cam>.video / calib_video)."""
    index, entry = find_real(config["scenes"], wc.scene_id)
    for cam, spec in entry["cameras"].items():
        for key, stem in (("video", cam), ("calib_video", f"calib_{cam}")):
            if stem == wc.video:
                return file_inputs(
                    spec[key], f"scenes.real[{index}].cameras.{cam}.{key}"
                )
    return []  # unknown video: video_job names the error


def detector_inputs(scenes):
    """truth.json of each (split, scene_id), plus the preprocess and calibrate folders for input 'preprocess'."""
    out = {"truth": [f"results/scenes/{sp}/{sc}/truth.json" for sp, sc in scenes]}
    if config["train_detector"]["input"] == "preprocess":
        out["prep"] = [f"results/preprocess/{sp}/{sc}" for sp, sc in scenes]
        out["calib"] = [f"results/calibrate/{sp}/{sc}" for sp, sc in scenes]
    else:
        out["videos"] = [f for sp, sc in scenes for f in scene_files(sp, sc)]
    return out


def prefixed(prefix, d):
    return {f"{prefix}_{k}": v for k, v in d.items()}


def detect_scene_inputs(wc):
    """One scene's detector input (see detector_inputs) and, for the network, the checkpoint."""
    out = {
        k: v[0] if len(v) == 1 else v
        for k, v in detector_inputs([(wc.split, wc.scene_id)]).items()
    }
    if wc.detector == "heatmap":
        # detect.checkpoint null: this run's training; else a file: source read by the script
        if config["detect"]["checkpoint"] is None:
            out["model"] = "results/train_detector/model.pt"
        else:  # an input, so that replacing the file re-runs detection
            out["checkpoint"] = file_inputs(
                config["detect"]["checkpoint"], "detect.checkpoint"
            )
        # mode roi3d centres the crops on the 3D track: it needs the calibrated cameras
        if config["detect"]["mode"] == "roi3d":
            out.setdefault("calib", f"results/calibrate/{wc.split}/{wc.scene_id}")
    return out


def detect_outputs(detectors, suffix=".json"):
    return [
        f"results/detect/{sp}/{sc}/{d}{suffix}"
        for sp, sc in vision_scenes(config["detect"]["splits"])
        for d in detectors
    ]


def vision_scenes(splits):
    """(split, scene_id) of the scenes (scenes.smk: all_scenes) whose split is in ``splits``."""
    return [(sp, sc) for sp, sc in all_scenes() if sp in splits]


def bundle_targets(p):
    """results/bundle/<split>/<scene_id>/<detector>.json (and .timing.json) for every scene of `bundle.splits`."""
    return [
        f"results/bundle/{sp}/{sc}/{det}{suffix}"
        for sp, sc in vision_scenes(p["splits"])
        for det in p["detectors"]
        for suffix in (".json", ".timing.json")
    ]


def bundle_inputs(wc):
    """truth + detections, and the calibrated cameras unless `bundle.cameras` is 'truth'."""
    out = {
        "truth": f"results/scenes/{wc.split}/{wc.scene}/truth.json",
        "detections": f"results/detect/{wc.split}/{wc.scene}/{wc.detector}.json",
    }
    if config["bundle"]["cameras"] == "calibrated":
        out["cameras"] = f"results/calibrate/{wc.split}/{wc.scene}"
    return out


if config["evaluate_vision"]["detector"] not in config["bundle"]["detectors"]:
    raise PipelineError(
        f"params.yaml: evaluate_vision.detector {config['evaluate_vision']['detector']!r} "
        f"is not one of bundle.detectors {config['bundle']['detectors']}"
    )


def eval_pairs(detector):
    """(bundle files, truth files) of every scene solved by the bundle phase for ``detector``."""
    scenes = [s for s in vision_scenes(config["bundle"]["splits"]) if s[0] != "real"]
    return (
        [f"results/bundle/{sp}/{sc}/{detector}.json" for sp, sc in scenes],
        [f"results/scenes/{sp}/{sc}/truth.json" for sp, sc in scenes],
    )


def eval_detections(detector):
    """(detection files, calibration folders) of the scenes of eval_pairs, in the same order."""
    scenes = [s for s in vision_scenes(config["bundle"]["splits"]) if s[0] != "real"]
    return (
        [f"results/detect/{sp}/{sc}/{detector}.json" for sp, sc in scenes],
        [f"results/calibrate/{sp}/{sc}" for sp, sc in scenes],
    )


def plot_scene_inputs(wc):
    p, b = config["evaluate_vision"], config["bundle"]
    scenes = [s for s in vision_scenes(b["splits"]) if s[0] != "real"]  # real: no truth
    sp, sc = (
        next(((s, c) for s, c in scenes if c == p["plot_scene"]), scenes[0])
        if scenes
        else ("", "")
    )
    out = {
        "tracks": f"results/bundle/{sp}/{sc}/{p['detector']}.json",
        "truth": f"results/scenes/{sp}/{sc}/truth.json",
        "detections": f"results/detect/{sp}/{sc}/{p['detector']}.json",
    }
    if b["cameras"] == "calibrated":
        out["cameras"] = f"results/calibrate/{sp}/{sc}"
    return out


def live_scenes():
    """(split, scene_id) of the scenes tracked live (params `live.splits`)."""
    return vision_scenes(config["live"]["splits"])


def live_files(name):
    """results/live/<split>/<scene_id>/<name> of every live scene."""
    return [f"results/live/{sp}/{sc}/{name}" for sp, sc in live_scenes()]


def live_scene_inputs(wc):
    """The scene's videos and truth, its calibrated cameras and the heatmap checkpoint (as detect_scene)."""
    base = f"results/scenes/{wc.split}/{wc.scene}"
    out = {
        "truth": f"{base}/truth.json",
        "videos": [f"{base}/{c}.avi" for c in scene_cams(wc.split, wc.scene)],
        "calib": f"results/calibrate/{wc.split}/{wc.scene}",
    }
    if config["detect"]["checkpoint"] is None:
        out["model"] = "results/train_detector/model.pt"
    else:
        out["checkpoint"] = file_inputs(
            config["detect"]["checkpoint"], "detect.checkpoint"
        )
    return out


def live_overlay_scene():
    """The scene of the overlay videos: live.overlay_scene, else the first live scene with truth."""
    scenes = [s for s in live_scenes() if s[0] != "real"] or live_scenes()
    want = config["live"]["overlay_scene"]
    return next((s for s in scenes if s[1] == want), scenes[0])


def live_eval_files(detector):
    """Live tracks of the scenes evaluate_vision scores (heatmap only: the live tracker runs that detector)."""
    if detector != "heatmap":
        return []
    live = set(live_scenes())
    return [
        f"results/live/{sp}/{sc}/track.json"
        for sp, sc in vision_scenes(config["bundle"]["splits"])
        if sp != "real" and (sp, sc) in live
    ]
