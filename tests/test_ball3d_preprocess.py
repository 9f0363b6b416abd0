"""Pre-processing kernels: CPU path against references, and CUDA (simulator) == CPU."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from ball3d.camera import Camera, look_at
from ball3d.preprocess import kernels
from ball3d.preprocess.phase import (
    Preprocessor,
    fixed_point_tables,
    remap_tables,
    resolve_backend,
    stack_frames,
    tone_lut,
)
from pipeutil.io import PipelineError

ROOT = Path(__file__).resolve().parents[1]


def pre_cfg(**over) -> dict:
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text())["preprocess"])
    cfg.update(over)
    return cfg


def camera(w=128, h=96, dist=(0, 0, 0, 0, 0)) -> Camera:
    R, t = look_at([0, -30, 10], [0, 0, 0])
    return Camera("c", K=[[100, 0, (w - 1) / 2], [0, 100, (h - 1) / 2], [0, 0, 1]], dist=dist, R=R, t=t,
                  width=w, height=h)


def test_remap_without_distortion_is_a_box_downscale():
    rng = np.random.default_rng(0)
    for scale in (2, 4):
        src = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        mapx, mapy, _ = remap_tables(camera(), scale)
        lut = np.tile(np.arange(256, dtype=np.uint8), (3, 1))
        out = np.zeros(mapx.shape + (3,), np.uint8)
        tables = fixed_point_tables(mapx, mapy, scale, 128, 96)
        assert tables[0].shape == ((scale // 2) ** 2,) + mapx.shape
        kernels.CPU_KERNELS["remap_tone"](src, *tables, lut, out)
        ref = cv2.resize(src, mapx.shape[::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(out.astype(int) - ref).max() <= 1


def test_fixed_point_sampling_matches_float_bilinear_including_borders():
    rng = np.random.default_rng(2)
    src = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mapx = rng.uniform(-1, 50, (30, 35)).astype(np.float32)
    mapy = rng.uniform(-1, 40, (30, 35)).astype(np.float32)
    mapx[0, :5], mapy[1, :5] = 49.0, 39.0  # exactly on the last column / row
    out = np.zeros((30, 35, 3), np.uint8)
    kernels.CPU_KERNELS["remap_tone"](src, *fixed_point_tables(mapx, mapy, 1, 50, 40),
                                      np.tile(np.arange(256, dtype=np.uint8), (3, 1)), out)
    inside = (mapx >= 0) & (mapy >= 0) & (mapx <= 49) & (mapy <= 39)
    ref = cv2.remap(src.astype(np.float32), mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(out.astype(float) - ref)[inside]
    assert diff.max() <= 8.5 and diff.mean() < 1.0  # 1/32 px quantisation: <= 2 x 255 / 64 + rounding
    assert np.all(out[~inside] == 0)


def test_undistortion_maps_a_point_to_its_pinhole_projection():
    cam = camera(640, 360, dist=(-0.1, 0.02, 0, 0, 0))
    mapx, mapy, K_out = remap_tables(cam, 2)
    X = np.array([[8.0, 4.0, 0.0]])
    uv_dist, _ = cam.project(X)  # where the point is in the source video
    und = Camera("u", K=K_out, dist=np.zeros(5), R=cam.R, t=cam.t, width=320, height=180)
    uv_out, _ = und.project(X, distort=False)  # where it must be in the pre-processed image
    u, v = uv_out[0]
    iu, iv = int(np.floor(u)), int(np.floor(v))
    fx, fy = u - iu, v - iv
    sx = (mapx[iv, iu] * (1 - fx) + mapx[iv, iu + 1] * fx) * (1 - fy) + (mapx[iv + 1, iu] * (1 - fx) + mapx[iv + 1, iu + 1] * fx) * fy
    sy = (mapy[iv, iu] * (1 - fx) + mapy[iv, iu + 1] * fx) * (1 - fy) + (mapy[iv + 1, iu] * (1 - fx) + mapy[iv + 1, iu + 1] * fx) * fy
    assert np.hypot(sx - uv_dist[0, 0], sy - uv_dist[0, 1]) < 0.05


def test_low_light_gain_brightens_dark_frames_only():
    cfg = pre_cfg()
    _, dark = tone_lut(np.full((64, 64, 3), 25, np.uint8), cfg)
    _, bright = tone_lut(np.full((64, 64, 3), 140, np.uint8), cfg)
    assert dark["gain"] == pytest.approx(cfg["target_luma"] / 25, rel=1e-6) and dark["gamma"] < 1
    assert bright["gain"] == 1.0 and bright["gamma"] == 1.0


def test_background_model_flags_a_moving_object():
    cam = camera()
    pre = Preprocessor(cam, pre_cfg(scale=2, bg_alpha=0.2, fg_threshold=20))
    base = np.full((96, 128, 3), 90, np.uint8)
    for _ in range(5):
        _, mask = pre(base)
        assert mask.sum() == 0
    moved = base.copy()
    moved[40:56, 60:76] = 250
    _, mask = pre(moved)
    ys, xs = np.nonzero(mask)
    assert mask.sum() >= 40 and 18 <= ys.min() and ys.max() <= 28 and 29 <= xs.min() and xs.max() <= 38


def test_wrong_frame_size_is_an_error():
    pre = Preprocessor(camera(), pre_cfg())
    with pytest.raises(PipelineError, match="camera 'c'"):
        pre(np.zeros((50, 50, 3), np.uint8))


def test_stack_frames_matches_numpy():
    frames = np.random.default_rng(1).integers(0, 256, (5, 8, 10, 3), dtype=np.uint8)
    for t in (0, 1, 4):
        got = stack_frames(frames, t, 3)
        ref = np.concatenate([frames[max(s, 0)] for s in range(t - 2, t + 1)], axis=2)
        assert np.array_equal(got, ref)


def test_backend_can_be_forced_off():
    assert resolve_backend("cpu") is False


CUDASIM_SCRIPT = textwrap.dedent("""
    import numpy as np
    from numba import cuda
    assert cuda.is_available()
    from ball3d.preprocess import kernels
    from ball3d.preprocess.phase import Preprocessor, stack_frames
    from ball3d.camera import Camera, look_at
    R, t = look_at([0, -30, 10], [0, 0, 0])
    cam = Camera("c", K=[[60, 0, 31.5], [0, 60, 23.5], [0, 0, 1]], dist=[-0.2, 0.05, 0.001, -0.001, 0],
                 R=R, t=t, width=64, height=48)
    cfg = dict(scale=2, target_luma=100.0, max_gain=4.0, low_light_gain_threshold=1.5, low_light_gamma=0.8,
               white_balance=[1.0, 0.9, 1.1], bg_alpha=0.1, fg_threshold=10.0)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 80, (3, 48, 64, 3), dtype=np.uint8)
    cpu, gpu = Preprocessor(cam, cfg, use_gpu=False), Preprocessor(cam, cfg, use_gpu=True)
    for f in frames:
        (oc, mc), (og, mg) = cpu(f), gpu(f)
        assert np.array_equal(oc, og) and np.array_equal(mc, mg), "chain differs"
    assert np.array_equal(cpu.bg, gpu._d["bg"].copy_to_host()), "background differs"
    assert mc.sum() > 0 and oc.mean() > frames[-1].mean()  # foreground found, dark frames gained up
    for scale in (3, 4):  # multi-tap downscaling
        c2, g2 = Preprocessor(cam, dict(cfg, scale=scale), False), Preprocessor(cam, dict(cfg, scale=scale), True)
        assert np.array_equal(c2(frames[0])[0], g2(frames[0])[0]), f"scale {scale} differs"
    assert np.array_equal(stack_frames(frames, 1, 3, False), stack_frames(frames, 1, 3, True)), "stack differs"
    print("CUDASIM-OK")
""")


def test_cuda_kernels_equal_cpu_under_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=str(ROOT / "src"))
    res = subprocess.run([sys.executable, "-c", CUDASIM_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "CUDASIM-OK" in res.stdout
