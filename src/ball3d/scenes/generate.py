"""Scene generator (phase ``scenes``): videos, calibration videos and exact ground truth.

A scene is fully determined by its seed and the ``scenes`` parameters. Splits are made by
seed: train, val and test use disjoint seed ranges, so the detector never sees a test scene.
Layout of a scene folder is documented in ``ball3d.records``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ball3d.board import Board, calibration_frames
from ball3d.pitch import ground_texture, landmarks
from ball3d.rig import make_rig, nominal_poses
from ball3d.videoio import write_video
from pipeutil.config import from_params
from pipeutil.io import PipelineError, atomic_path, write_json

from .physics import BallPhysics, simulate_ball, simulate_players
from .render import Sensor, render_background, render_frame

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SceneSpec:
    split: str
    scene_id: str
    seed: int


def scene_specs(cfg: dict) -> list[SceneSpec]:
    """All scenes of all splits; seed ranges of the splits must not overlap."""
    specs, used = [], {}
    for split in SPLITS:
        s = cfg["splits"][split]
        for i in range(int(s["count"])):
            seed = int(s["first_seed"]) + i
            if seed in used:
                raise PipelineError(f"params.yaml: scenes.splits: seed {seed} is used by both {used[seed]} and {split}")
            used[seed] = split
            specs.append(SceneSpec(split=split, scene_id=f"{split}_{seed}", seed=seed))
    return specs


def camera_names(cfg: dict) -> list[str]:
    return [name for name, _, _ in nominal_poses(cfg["cameras"])]


def _physics(cfg: dict) -> BallPhysics:
    return from_params(BallPhysics, cfg["ball"], "params.yaml: scenes.ball")


def _render_camera(cam, tex, traj, players, cfg, rng, n_frames, low_light, out_dir: Path) -> dict:
    """Render one camera's video; return its per-camera truth."""
    cond, fps = cfg["conditions"], cfg["fps"]
    S = int(cond["blur_samples"])
    offsets = (np.linspace(-0.5, 0.5, S) if S > 1 else np.zeros(1)) * cond["exposure"] / fps
    bg = render_background(cam, tex)
    sensor = Sensor(bg.shape, rng, low_light, cond["low_light_gain"], cond["read_noise"], cond["shot_noise"])
    truth = {"video": f"{cam.name}.avi", "calib_video": f"calib_{cam.name}.avi", "uv": [],
             "visible_fraction": [], "blur_px": [], "low_light": bool(low_light)}

    def frames():
        for f in range(n_frames):
            sub = traj.at(f / fps + offsets)  # (S, 3) sub-frame ball positions
            img, br = render_frame(cam, bg, sub, traj_radius(cfg), players.xy[f], players.team, players.height_m)
            truth["uv"].append(None if br.uv is None else [round(float(br.uv[0]), 3), round(float(br.uv[1]), 3)])
            truth["visible_fraction"].append(round(br.visible_fraction, 4))
            truth["blur_px"].append(round(br.blur_px, 3))
            yield sensor.apply(img)

    write_video(out_dir / truth["video"], frames(), fps, cfg["video_quality"])
    return truth


def traj_radius(cfg: dict) -> float:
    return float(cfg["ball"]["radius_m"])


def generate_scene(spec: SceneSpec, cfg: dict, out_dir: str | Path) -> dict:
    """Render every camera of one scene into ``out_dir`` (written atomically); return the truth dict."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(spec.seed)
    fps, n = float(cfg["fps"]), int(cfg["n_frames"])
    cams = make_rig(cfg["cameras"], int(cfg["width"]), int(cfg["height"]), fps, rng)
    phys = _physics(cfg)
    traj = simulate_ball(rng, n / fps + 1.0, 1.0 / (fps * cfg["physics_substeps"]), phys)
    ball_xyz = traj.at(np.arange(n) / fps)  # (n, 3)
    pl = cfg["players"]
    players = simulate_players(rng, int(pl["count"]), int(pl["chasers"]), ball_xyz[:, :2], fps, pl["speed_ms"],
                               float(pl.get("orbit_rad_s", 0.0)))
    tex = ground_texture(cfg["texture_res_m"], seed=spec.seed)
    low = rng.random(len(cams)) < cfg["conditions"]["low_light_prob"]
    cv = cfg["calib_video"]
    board = Board(int(cv["board"]["cols"]), int(cv["board"]["rows"]), float(cv["board"]["square_m"]))
    truth = {"scene_id": spec.scene_id, "seed": spec.seed, "split": spec.split, "fps": fps, "n_frames": n,
             "ball_radius_m": phys.radius_m, "cameras": [c.to_dict() for c in cams],
             "ball_xyz": np.round(ball_xyz, 5).tolist(), "per_camera": {}, "landmarks": landmarks().to_dict(),
             "calib_board": {"cols": board.cols, "rows": board.rows, "square_m": board.square_m},
             "kick_times_s": [round(k, 4) for k in traj.kicks]}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for cam, lo in zip(cams, low):
            truth["per_camera"][cam.name] = _render_camera(cam, tex, traj, players, cfg, rng, n, lo, tmp)
            frames = calibration_frames(cam, board, int(cv["n_frames"]), rng, cv["blur_fraction"], cv["noise_sigma"])
            write_video(tmp / f"calib_{cam.name}.avi", frames, fps, cfg["video_quality"])
        write_json(tmp / "truth.json", truth)  # no timings inside: the file is byte-reproducible
    log.info("scene %s: %d cameras x %d frames in %.1f s", spec.scene_id, len(cams), n, time.perf_counter() - t0)
    return truth
