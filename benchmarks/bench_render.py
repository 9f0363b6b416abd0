"""Scene rendering speed at 1080p: frames/s of our renderer vs a naive re-render of the background per frame.

  ours         static background cast once per camera, per frame: players + blurred ball + sensor noise
  naive        the same frame with the pitch re-cast through the lens every frame (what a renderer
               without the static-background cache would pay)
  encode       MJPG encoding of a frame (cv2.VideoWriter), reported separately
Usage: python benchmarks/bench_render.py --out results/bench/render.json [--frames 20]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ball3d.constants import BALL_RADIUS_M  # noqa: E402
from ball3d.pitch import ground_texture  # noqa: E402
from ball3d.rig import make_rig  # noqa: E402
from ball3d.scenes.physics import BallPhysics, simulate_ball, simulate_players  # noqa: E402
from ball3d.scenes.render import Sensor, render_background, render_frame  # noqa: E402
from ball3d.videoio import write_video  # noqa: E402

RIG = dict(count=6, distance_m=15.0, height_m=18.0, first_angle_deg=30.0, aim_fraction=0.4, positions=[],
           focal_px=1400.0, dist=[-0.08, 0.02, 0, 0, 0],
           jitter=dict(position_m=1.0, aim_m=1.5, focal_frac=0.03, principal_px=8, dist_frac=0.2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=20)
    args = ap.parse_args()
    n, fps = args.frames, 25.0
    rng = np.random.default_rng(0)
    cam = make_rig(RIG, 1920, 1080, fps, rng)[2]
    tex = ground_texture(0.04)
    traj = simulate_ball(rng, n / fps + 1, 1 / (fps * 20), BallPhysics())
    players = simulate_players(rng, 22, 6, traj.at(np.arange(n) / fps)[:, :2], fps, 8.0)
    offs = np.linspace(-0.25, 0.25, 7) / fps

    def frame(f, bg, sensor):
        img, _ = render_frame(cam, bg, traj.at(f / fps + offs), BALL_RADIUS_M, players.xy[f], players.team, players.height_m)
        return sensor.apply(img)

    t0 = time.perf_counter()
    bg = render_background(cam, tex)
    t_bg = time.perf_counter() - t0
    sensor = Sensor(bg.shape, rng, False, 0.3, 2.0, 0.5)
    t0, c0 = time.perf_counter(), time.process_time()
    frames = [frame(f, bg, sensor) for f in range(n)]
    t_ours, c_ours = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
    m = max(2, n // 5)
    t0, c0 = time.perf_counter(), time.process_time()
    for f in range(m):
        frame(f, render_background(cam, tex), sensor)
    t_naive, c_naive = (time.perf_counter() - t0) / m, (time.process_time() - c0) / m
    with tempfile.TemporaryDirectory() as d:
        t0, c0 = time.perf_counter(), time.process_time()
        write_video(Path(d) / "v.avi", frames, fps)
        t_enc, c_enc = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
    out = {"benchmark": "render", "resolution": "1920x1080", "frames": n,
           "ours_fps": 1 / t_ours, "naive_fps": 1 / t_naive, "speedup": t_naive / t_ours,
           "ours_fps_cpu_time": 1 / c_ours, "naive_fps_cpu_time": 1 / c_naive,
           "ours_plus_encode_fps": 1 / (t_ours + t_enc), "ours_plus_encode_fps_cpu_time": 1 / (c_ours + c_enc),
           "background_once_s": t_bg, "encode_ms": t_enc * 1000, "encode_cpu_ms": c_enc * 1000,
           "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
