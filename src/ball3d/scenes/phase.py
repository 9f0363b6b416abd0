"""Phase ``scenes``: the functions its rules call (render_scene, real_scene_video, real_scene, plot_scenes)."""
from __future__ import annotations

from pathlib import Path

from pipeutil.io import PipelineError, read_json

from .generate import generate_scene, scene_specs
from .plots import camera_layout, frames_with_ball
from .real import finish_real_scene, import_video, parse_real


def run_render_scene(cfg: dict, split: str, scene_id: str, truth_path: str) -> dict:
    """Render scene ``scene_id`` of ``split`` (params ``scenes``) into the folder of ``truth_path``."""
    spec = next((s for s in scene_specs(cfg) if s.split == split and s.scene_id == scene_id), None)
    if spec is None:
        raise PipelineError(f"scenes: no scene {scene_id!r} in split {split!r} of params scenes.splits")
    return generate_scene(spec, cfg, Path(truth_path).parent)


def run_real_scene_video(job: dict, out_path: str) -> dict:
    """One video of a real scene (params ``scenes.real``, job of ``ball3d.scenes.real.video_job``) as MJPG/AVI."""
    return import_video(job, out_path)


def run_real_scene(entry: dict, index: int, truth_path: str, landmarks_path: str) -> tuple:
    """Check a real scene's imported videos together; write its landmarks_px.json and truth.json.
    Returns (scene, truth)."""
    scene = parse_real(entry, index)
    return scene, finish_real_scene(scene, Path(truth_path).parent, truth_path, landmarks_path)


def run_plot_scenes(truth_path: str, frame: int, layout_png: str, frames_png: str) -> dict:
    """Camera layout around the pitch and frame ``frame`` (clipped to the scene) of every camera with the ball."""
    truth = read_json(truth_path, "scene truth")
    camera_layout(truth, layout_png)
    frames_with_ball(Path(truth_path).parent, truth, min(frame, truth["n_frames"] - 1), frames_png)
    return truth
