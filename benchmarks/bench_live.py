"""Live tracker throughput beside the floor set by decoding alone, in one run on the same files.

  decode_only   the live tracker's own sources (one decoding thread per camera, bounded queues, frame sets)
                consumed without any processing: the most frame sets/s these files can give
  live_cpu      python -m ball3d.live on the same files (pace fast: nothing dropped), Numba CPU pre-processing
  live_cuda     the same with CUDA pre-processing and the detector on the GPU (only when numba finds a GPU)
Reported: frame sets/s, the ratio live / decode-only (issue 14 target >= 0.5), end-to-end latency
p50/p95/max (decoding start of a set -> its record emitted) and p50/p95 per stage.
A scene is rendered (default 6 cameras at 1920x1080, 50 frames, the analytic hand-set detector of
ball3d.detection.analytic on true cameras) unless --scene/--cameras/--checkpoint give one.
Usage: python benchmarks/bench_live.py --out results/bench/live.json [--width 1920 --height 1080
       --n-cameras 6 --frames 50 --threads 2]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep instead of spinning (shared cores)

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ball3d.camera import Camera  # noqa: E402
from ball3d.detection.analytic import write_analytic_checkpoint  # noqa: E402
from ball3d.detection.network import DetectorConfig  # noqa: E402
from ball3d.live.__main__ import load_params  # noqa: E402
from ball3d.live.run import run_live  # noqa: E402
from ball3d.live.sources import FrameSets, open_sources  # noqa: E402
from ball3d.preprocess.kernels import gpu_available  # noqa: E402


def render(root: Path, a) -> tuple[Path, Path, Path]:
    """A rendered scene, its true cameras and the hand-set detector checkpoint (network of params.yaml)."""
    from ball3d.scenes.generate import generate_scene, scene_specs

    full = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg = copy.deepcopy(full["scenes"])
    cfg.update(width=a.width, height=a.height, n_frames=a.frames)
    cfg["cameras"]["count"] = a.n_cameras
    cfg["calib_video"]["n_frames"] = 1
    truth = generate_scene(scene_specs(cfg)[0], cfg, root / "scene")
    for d in truth["cameras"]:
        Camera.from_dict(d).save(root / "calib" / f"{d['name']}.json")
    td = full["train_detector"]
    write_analytic_checkpoint(root / "det.pt", DetectorConfig.from_dict({**td["network"], "input_source": td["input"]}))
    return root / "scene", root / "calib", root / "det.pt"


def sources_of(scene: Path) -> dict[str, str]:
    truth = json.loads((scene / "truth.json").read_text())
    return {c: str(scene / pc["video"]) for c, pc in truth["per_camera"].items()}


def decode_only(sources: dict[str, str], queue_frames: int) -> dict:
    srcs = open_sources(sources)
    t0, n = time.perf_counter(), 0
    sets = FrameSets(srcs, queue_frames, "block", False)
    try:
        for _ in sets:
            n += 1
    finally:
        sets.close()
    wall = time.perf_counter() - t0
    return {"frame_sets": n, "seconds": round(wall, 3), "frame_sets_per_s": round(n / wall, 3)}


def live(sources, calib, ckpt, params, a) -> dict:
    res = run_live(sources, calib, ckpt, params, lambda r: None, pace="fast", queue_frames=a.queue_frames,
                   threads=a.threads)
    s = res.summary
    return {k: s[k] for k in ("frame_sets", "seconds", "frame_sets_per_s", "preprocess_backend", "latency_ms",
                              "stop_reason")}


def arguments(description: str, frames: int = 50) -> argparse.ArgumentParser:
    """The options of this benchmark (also bench_live_stages'): output, scene or rendered scene, threads."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", required=True)
    ap.add_argument("--scene", help="scene folder (truth.json + videos); default: render one")
    ap.add_argument("--cameras", help="calibration folder of --scene")
    ap.add_argument("--checkpoint", help="detector checkpoint for --scene")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--n-cameras", type=int, default=6)
    ap.add_argument("--frames", type=int, default=frames)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queue-frames", type=int, default=4)
    return ap


def main() -> None:
    ap = arguments(__doc__.split("\n")[0])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.scene:
            scene, calib, ckpt = Path(a.scene), Path(a.cameras), Path(a.checkpoint)
        else:
            scene, calib, ckpt = render(Path(tmp), a)
        sources = sources_of(scene)
        params = load_params(str(ROOT / "params.yaml"))
        params["preprocess"]["backend"] = "cpu"
        params["detect"]["device"] = "cpu"
        out = {"cameras": len(sources), "frames": a.frames, "size": [a.width, a.height], "threads": a.threads,
               "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count()}
        live(sources, calib, ckpt, params, a) if a.frames > 3 else None  # warm-up: numba and torch compile once
        out["decode_only"] = decode_only(sources, a.queue_frames)
        out["live_cpu"] = live(sources, calib, ckpt, params, a)
        out["ratio_cpu"] = round(out["live_cpu"]["frame_sets_per_s"] / out["decode_only"]["frame_sets_per_s"], 3)
        if gpu_available():
            params["preprocess"]["backend"], params["detect"]["device"] = "gpu", "cuda"
            live(sources, calib, ckpt, params, a)  # warm-up of the CUDA kernels
            out["live_cuda"] = live(sources, calib, ckpt, params, a)
            out["ratio_cuda"] = round(out["live_cuda"]["frame_sets_per_s"] / out["decode_only"]["frame_sets_per_s"], 3)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    for k in ("live_cpu", "live_cuda"):
        if k in out:
            print(f"{k}: {out[k]['frame_sets_per_s']:.2f} frame sets/s vs decode-only "
                  f"{out['decode_only']['frame_sets_per_s']:.2f} (ratio {out['ratio_' + k[5:]]:.2f}); "
                  f"p95 latency {out[k]['latency_ms']['total']['p95']:.1f} ms")


if __name__ == "__main__":
    main()
