"""Write the tiny inputs of the smoke configuration (tests/params.smoke.yaml) under <root>/tests/_smoke/.

Usage: python tests/smoke_inputs.py [ROOT]   (then: snakemake --cores 2 --configfile tests/params.smoke.yaml)
"""
from __future__ import annotations

import copy
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_llm import make_tiny_llm  # noqa: E402

QA = [("What is the capital of France?", ["Paris"]), ("What is the capital of Italy?", ["Rome"]),
      ("Which planet is closest to the sun?", ["Mercury"]), ("Which planet is the farthest?", ["Neptune"]),
      ("What do plants convert light into?", ["chemical energy", "energy"]), ("How hot does water boil?", ["100 degrees"])]
SUPPORT = ("Plants and planets. Photosynthesis converts light energy into chemical energy in plants. Mercury is "
           "the planet closest to the sun; Neptune is the farthest.")  # long enough for the sciq calibration windows
TEXT = " ".join(["The capital of France is Paris. The capital of Italy is Rome. Photosynthesis converts light "
                 "energy into chemical energy in plants. Mercury is the planet closest to the sun."] * 40)


def _rows(name: str) -> list[dict]:
    if name in ("nq_open", "trivia_qa"):
        return [{"id": f"{name}-{i}", "question": q, "answers": a} for i, (q, a) in enumerate(QA)]
    if name == "sciq":
        return [{"id": f"sciq-{i}", "question": q, "context": SUPPORT, "gold": 3,
                 "choices": ["Berlin", "Mars", "water", a[0]]} for i, (q, a) in enumerate(QA)]
    if name == "sst2":
        texts = ["a wonderful , moving film", "dull and terrible", "charming", "the acting was terrible",
                 "it was wonderful", "dull plot"]
        return [{"id": f"sst2-{i}", "text": t, "label": int(i % 2 == 0), "label_names": ["negative", "positive"]}
                for i, t in enumerate(texts)]
    if name == "truthful_qa":
        return [{"id": f"tfqa-{i}", "question": q, "category": "Test", "best_answer": a[0],
                 "true_answers": [a[0], f"It is {a[0]}."], "false_answers": ["Berlin", "Nothing at all."]}
                for i, (q, a) in enumerate(QA)]
    if name == "wikiqa":
        return [{"id": f"wikiqa-{i}", "question": q, "candidates": [f"The answer is {a[0]}.", "Water is wet.",
                                                                   "Cats sleep a lot."], "labels": [1, 0, 0]}
                for i, (q, a) in enumerate(QA)]
    raise KeyError(name)


def write_smoke_inputs(root: str | Path) -> Path:
    out = Path(root) / "tests" / "_smoke"
    (out / "datasets").mkdir(parents=True, exist_ok=True)
    if not (out / "model" / "config.json").is_file():
        make_tiny_llm(out / "model", n_layers=4, arch="llama")
    for name in ("nq_open", "trivia_qa", "sciq", "sst2", "truthful_qa", "wikiqa"):
        with open(out / "datasets" / f"{name}.jsonl", "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in _rows(name))
    (out / "datasets" / "wiki.txt").write_text(TEXT)
    write_smoke_real_scene(root)
    write_smoke_detector(root)
    return out


def smoke_params(root: str | Path) -> dict:
    """params.yaml merged with the smoke parameters (as tests/test_workflow_dag.py runs them)."""
    import yaml

    root = Path(root)
    return _merge(yaml.safe_load((root / "params.yaml").read_text()),
                  yaml.safe_load((root / "tests" / "params.smoke.yaml").read_text()))


def write_smoke_detector(root: str | Path) -> Path:
    """tests/_smoke/detector.pt (params detect.checkpoint of the smoke run): the hand-set "white and moving"
    network of ball3d.analytic_detector for the smoke network config. Detection in the smoke run then
    does not depend on what 30 training steps learn on this CPU (train_detector still runs)."""
    from ball3d.detection.analytic import write_analytic_checkpoint
    from ball3d.detection.network import DetectorConfig

    td = smoke_params(root)["train_detector"]
    path = Path(root) / "tests" / "_smoke" / "detector.pt"
    write_analytic_checkpoint(path, DetectorConfig.from_dict({**td["network"], "input_source": td["input"]}))
    return path


# ------------------------------------------------------------------ vision: a "real" scene
# Real footage has no ground truth; for tests a rendered scene is turned into the files a user
# would give (scenes.real in params.yaml): videos in another container, clicked landmarks.
REAL_CAMERAS = {"cam0": "left", "cam1": "centre", "cam2": "right"}  # rendered name -> "real" name


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, val in over.items():
        out[key] = _merge(out[key], val) if isinstance(val, dict) and isinstance(out.get(key), dict) else val
    return out


def smoke_scenes_cfg(root: str | Path) -> dict:
    """The `scenes` section of params.yaml merged with the smoke parameters."""
    return smoke_params(root)["scenes"]


def _reencode(src: Path, dst: Path) -> None:
    """Copy a video into ``dst``'s container (.mp4: MPEG-4 part 2 when OpenCV can write it, else MJPG)."""
    import cv2

    from ball3d.videoio import iter_frames, probe_video

    info = probe_video(src)
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"mp4v"), info.fps, (info.width, info.height))
    if not writer.isOpened():
        writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"MJPG"), info.fps, (info.width, info.height))
    for _, frame in iter_frames(src):
        writer.write(frame)
    writer.release()


def write_real_inputs(scene_dir: str | Path, out_dir: str | Path, names: dict[str, str], ext: str = ".mp4",
                      noise_px: float = 0.3, seed: int = 0) -> dict:
    """Turn a rendered scene folder into user inputs: <name><ext>, calib_<name><ext> per camera and
    landmarks_px.json (true landmarks projected with the true cameras, + noise_px Gaussian "clicks").
    Returns a `scenes.real` camera map {name: {video, calib_video}} of file: URIs."""
    import numpy as np

    from ball3d.calibration.calibrate import synthetic_landmark_pixels
    from ball3d.camera import Camera
    from ball3d.pitch import landmarks

    scene_dir, out_dir = Path(scene_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = json.loads((scene_dir / "truth.json").read_text())
    lm, rng, clicks, cams = landmarks(), np.random.default_rng(seed), {}, {}
    for d in truth["cameras"]:
        new = names[d["name"]]
        for prefix in ("", "calib_"):
            _reencode(scene_dir / f"{prefix}{d['name']}.avi", out_dir / f"{prefix}{new}{ext}")
        cams[new] = {"video": f"file:{out_dir / (new + ext)}",
                     "calib_video": f"file:{out_dir / ('calib_' + new + ext)}"}
        got, _, uv = synthetic_landmark_pixels(Camera.from_dict(d), lm.names, lm.xyz, noise_px, rng)
        clicks[new] = {n: [round(float(u), 2), round(float(v), 2)] for n, (u, v) in zip(got, uv)}
    (out_dir / "landmarks_px.json").write_text(json.dumps(clicks, indent=1))
    return cams


def write_smoke_real_scene(root: str | Path) -> Path:
    """tests/_smoke/real/: the inputs of the smoke configuration's real scene (scenes.real[0])."""
    from ball3d.scenes.generate import SceneSpec, generate_scene

    out = Path(root) / "tests" / "_smoke" / "real"
    if (out / "landmarks_px.json").is_file():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        generate_scene(SceneSpec("test", "real_4000", 4000), smoke_scenes_cfg(root), Path(tmp) / "scene")
        write_real_inputs(Path(tmp) / "scene", out, REAL_CAMERAS)
    return out


if __name__ == "__main__":
    print(write_smoke_inputs(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]))
