"""A tiny rendered scene for the 3D-track tests: 3 cameras, 320x180, 16 frames, no players, a 0.4 m ball (a few
pixels wide, so the hand-set detector finds it); calibration = the true cameras."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from ball3d.camera import Camera

ROOT = Path(__file__).resolve().parents[1]


def tiny_ball_scene(root: Path) -> tuple[Path, Path, dict]:
    """(scene folder, calibration folder, truth) under ``root``."""
    from ball3d.scenes.generate import generate_scene, scene_specs

    cfg = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text())["scenes"])
    cfg.update(width=320, height=180, n_frames=16)
    cfg["cameras"]["count"] = 3
    cfg["calib_video"]["n_frames"] = 1
    cfg["players"].update(count=0, chasers=0)
    cfg["ball"]["radius_m"] = 0.4
    truth = generate_scene(scene_specs(cfg)[0], cfg, root / "scene")
    calib = root / "calib"
    for d in truth["cameras"]:
        Camera.from_dict(d).save(calib / f"{d['name']}.json")
    return root / "scene", calib, truth
