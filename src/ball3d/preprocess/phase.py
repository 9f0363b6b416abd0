"""Phase ``preprocess``: undistort, downscale, normalise, gain and background-subtract every video.

``Preprocessor`` owns the per-camera state (remap tables at the output resolution, tone
look-up table, background model) and runs the fused per-pixel chain of ``ball3d.kernels`` on
the GPU when one is present (``use_gpu: auto``) or on the CPU. The output image is an ideal
pinhole camera with intrinsics ``K_out`` (no distortion): a detection at (u', v') there is the
undistorted full-resolution pixel ((u' + 0.5) * scale - 0.5, (v' + 0.5) * scale - 0.5).
"""
from __future__ import annotations

import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numba
import numpy as np

from ball3d.camera import Camera
from ball3d.videoio import check_consistent, iter_frames, probe_video
from pipeutil.io import PipelineError, atomic_path, write_json

from . import kernels

log = logging.getLogger(__name__)


def output_intrinsics(K: np.ndarray, scale: float) -> np.ndarray:
    """Intrinsics of the undistorted image downscaled by ``scale`` (pixel centres at integers)."""
    Ko = K.copy().astype(np.float64)
    Ko[0, 0], Ko[1, 1], Ko[0, 1] = K[0, 0] / scale, K[1, 1] / scale, K[0, 1] / scale
    Ko[0, 2], Ko[1, 2] = (K[0, 2] + 0.5) / scale - 0.5, (K[1, 2] + 0.5) / scale - 0.5
    return Ko


def remap_tables(cam: Camera, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source pixel (mapx, mapy) of every output pixel, each (h, w) float32, and K_out."""
    w, h = int(cam.width // scale), int(cam.height // scale)
    Ko = output_intrinsics(cam.K, scale)
    mapx, mapy = cv2.initUndistortRectifyMap(cam.K, cam.dist, None, Ko, (w, h), cv2.CV_32FC1)
    return mapx, mapy, Ko


def fixed_point_tables(mapx: np.ndarray, mapy: np.ndarray, scale: float, src_w: int, src_h: int) -> tuple[np.ndarray, ...]:
    """Integer tap tables (x0, y0 int16, fx, fy uint8 in 1/32 px), each (T, h, w), for the remap kernels.

    T = taps x taps samples spread over the scale x scale footprint of every output pixel (for
    scale 2 one centred sample is exactly the 2x2 box mean). x0 = -1 marks a tap outside the frame.
    """
    taps = max(1, int(round(scale / 2)))
    step = scale / taps
    off = (np.arange(taps) - (taps - 1) / 2) * step
    tx, ty, tfx, tfy = [], [], [], []
    for oy in off:
        for ox in off:
            x, y = mapx.astype(np.float64) + ox, mapy.astype(np.float64) + oy
            inside = (x >= 0) & (y >= 0) & (x <= src_w - 1) & (y <= src_h - 1)
            cols = []
            for v, n in ((x, src_w), (y, src_h)):
                q = np.round(np.where(inside, v, 0) * 32).astype(np.int64)  # 1/32 px
                i, f = q // 32, q % 32
                edge = i >= n - 1  # keep the 2x2 neighbourhood inside the frame
                i, f = np.where(edge, n - 2, i), np.where(edge, 32, f)
                cols.append((i, f))
            (ix, fx), (iy, fy) = cols
            tx.append(np.where(inside, ix, -1).astype(np.int16))
            ty.append(iy.astype(np.int16))
            tfx.append(fx.astype(np.uint8))
            tfy.append(fy.astype(np.uint8))
    return np.stack(tx), np.stack(ty), np.stack(tfx), np.stack(tfy)


def tone_lut(frame: np.ndarray, cfg: dict) -> tuple[np.ndarray, dict]:
    """(3, 256) uint8 table: white balance x gain (raises dark videos to ``target_luma``) then gamma."""
    sub = frame[::8, ::8].reshape(-1, 3).astype(np.float64)
    luma = float((sub @ np.array([0.114, 0.587, 0.299])).mean())  # mean luminance of a strided sample
    gain = float(np.clip(cfg["target_luma"] / max(luma, 1.0), 1.0, cfg["max_gain"]))
    gamma = float(cfg["low_light_gamma"]) if gain >= cfg["low_light_gain_threshold"] else 1.0
    wb = np.asarray(cfg["white_balance"], np.float64)[:, None]  # (3, 1) B G R factors
    v = np.arange(256, dtype=np.float64)[None, :]
    lut = 255.0 * np.clip(v * wb * gain / 255.0, 0, 1) ** gamma  # (3, 256)
    return np.clip(lut + 0.5, 0, 255).astype(np.uint8), {"mean_luma": luma, "gain": gain, "gamma": gamma}


@dataclass
class Preprocessor:
    """Per-camera pre-processing state; ``__call__(frame)`` -> (image (h, w, 3) uint8, mask (h, w) uint8)."""

    cam: Camera
    cfg: dict
    use_gpu: bool = False

    def __post_init__(self):
        s = float(self.cfg["scale"])
        self.mapx, self.mapy, self.K_out = remap_tables(self.cam, s)
        self.tables = fixed_point_tables(self.mapx, self.mapy, s, self.cam.width, self.cam.height)
        h, w = self.mapx.shape
        self.bg = np.zeros((h, w), np.int32)  # luminance x 256
        self.lut = None
        self.tone_info: dict = {}
        self.n = 0
        if self.use_gpu:
            self._k = kernels.gpu_kernels()
            cuda = self._k["cuda"]
            self._d = {"tables": [cuda.to_device(a) for a in self.tables], "bg": cuda.to_device(self.bg)}

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if frame.shape[:2] != (self.cam.height, self.cam.width):
            raise PipelineError(f"camera {self.cam.name!r}: frame is {frame.shape[1]}x{frame.shape[0]}, "
                                f"camera file says {self.cam.width}x{self.cam.height}")
        if self.lut is None:
            self.lut, self.tone_info = tone_lut(frame, self.cfg)
        if self.n == 0:  # the first frame initialises the background, no foreground
            alpha_q, thr_q = 65536, 1 << 30
        else:
            alpha_q, thr_q = int(round(self.cfg["bg_alpha"] * 65536)), int(round(self.cfg["fg_threshold"] * 256))
        h, w = self.mapx.shape
        self.n += 1
        if not self.use_gpu:
            out, mask = np.empty((h, w, 3), np.uint8), np.empty((h, w), np.uint8)
            kernels.CPU_KERNELS["chain"](frame, *self.tables, self.lut, self.bg, out, mask, alpha_q, thr_q)
            return out, mask
        cuda = self._k["cuda"]
        d_out, d_mask = cuda.device_array((h, w, 3), np.uint8), cuda.device_array((h, w), np.uint8)
        blocks, threads = kernels.launch_grid(h, w)
        self._k["chain"][blocks, threads](cuda.to_device(frame), *self._d["tables"], cuda.to_device(self.lut),
                                          self._d["bg"], d_out, d_mask, alpha_q, thr_q)
        return d_out.copy_to_host(), d_mask.copy_to_host()


def stack_frames(frames: np.ndarray, t: int, k: int, use_gpu: bool = False) -> np.ndarray:
    """Frames t-k+1..t of (T, h, w, C) as one (h, w, k*C) array (earlier frames clamp to frame 0)."""
    T, h, w, C = frames.shape
    if not 0 <= t < T:
        raise PipelineError(f"stack_frames: frame {t} outside 0..{T - 1}")
    if not use_gpu:
        out = np.empty((h, w, k * C), frames.dtype)
        kernels.CPU_KERNELS["stack"](frames, t, k, out)
        return out
    g = kernels.gpu_kernels()
    d_out = g["cuda"].device_array((h, w, k * C), frames.dtype)
    blocks, threads = kernels.launch_grid(h, w)
    g["stack"][blocks, threads](g["cuda"].to_device(frames), t, k, d_out)
    return d_out.copy_to_host()


def resolve_backend(setting: str) -> bool:
    """``auto`` -> GPU when numba finds one; ``cpu`` forces it off; ``gpu`` requires one."""
    if setting == "cpu":
        return False
    have = kernels.gpu_available()
    if setting == "gpu" and not have:
        raise PipelineError("params.yaml: preprocess.backend is 'gpu' but numba finds no CUDA device")
    return have


def set_cpu_threads(n: int) -> None:
    """Threads of the CPU kernels (1 avoids thread wake-up costs on small frames or busy machines)."""
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


def save_npz_fast(path: str | Path, level: int = 1, **arrays) -> None:
    """Atomic, byte-reproducible .npz (np.load reads it); deflate ``level`` (0 = stored, 1 ~2.5x faster than 6)."""
    kind = zipfile.ZIP_DEFLATED if level > 0 else zipfile.ZIP_STORED
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", kind, compresslevel=level if level > 0 else None) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))  # no timestamp
            info.compress_type = kind
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)


def preprocess_video(video: str | Path, cam: Camera, cfg: dict, out_path: str | Path, use_gpu: bool) -> dict:
    """Write <out_path>.npz: frames (T, h, w, 3) uint8, fg (T, h, w) uint8, K_out, scale, timings."""
    pre = Preprocessor(cam, cfg, use_gpu)
    frames, masks, times = [], [], []
    for _, frame in iter_frames(video):
        t0 = time.perf_counter()
        img, mask = pre(frame)
        times.append(time.perf_counter() - t0)
        frames.append(img)
        masks.append(mask)
    ms = float(np.median(times[1:] if len(times) > 1 else times) * 1000)
    save_npz_fast(out_path, int(cfg["compress_level"]), frames=np.stack(frames), fg=np.stack(masks), K_out=pre.K_out,
                  scale=np.float64(cfg["scale"]), camera=np.str_(cam.name))
    log.info("camera %s: %.2f ms per frame (%s)", cam.name, ms, "cuda" if use_gpu else "cpu")  # timing: log only
    return {"camera": cam.name, "frames": len(frames), "out_size": list(pre.mapx.shape[::-1]),
            "backend": "cuda" if use_gpu else "cpu", **{k: round(v, 6) for k, v in pre.tone_info.items()}}


def preprocess_scene(scene_dir: str | Path, calib_dir: str | Path, cam_names: list[str], cfg: dict,
                     out_dir: str | Path) -> dict:
    """Pre-process every camera video of a scene with its calibrated camera file."""
    scene_dir, calib_dir = Path(scene_dir), Path(calib_dir)
    infos = [probe_video(scene_dir / f"{n}.avi") for n in cam_names]
    check_consistent(infos, str(scene_dir))
    use_gpu = resolve_backend(cfg["backend"])
    set_cpu_threads(int(cfg["threads"]))
    rows = []
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for name, info in zip(cam_names, infos):
            cam = Camera.load(calib_dir / f"{name}.json")
            if (cam.width, cam.height) != (info.width, info.height):
                raise PipelineError(f"{calib_dir / (name + '.json')}: camera is {cam.width}x{cam.height} but "
                                    f"{info.path} is {info.width}x{info.height}")
            rows.append(preprocess_video(info.path, cam, cfg, tmp / f"{name}.npz", use_gpu))
            log.info("camera %s: %s", name, rows[-1])
        summary = {"scene": scene_dir.name, "cameras": rows}
        write_json(tmp / "summary.json", summary)
    return summary


def run_preprocess_scene(truth_path: str, calib_dir: str, cam_names: list[str], cfg: dict, out_dir: str) -> dict:
    """Rule preprocess_scene: every camera video of the scene of ``truth_path`` with its calibrated camera."""
    return preprocess_scene(Path(truth_path).parent, calib_dir, cam_names, cfg, out_dir)
