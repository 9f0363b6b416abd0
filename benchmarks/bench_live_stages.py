"""Where the live tracker's preprocess stage goes, per camera frame: the Numba chain vs the detector inputs.

The live tracker's ``preprocess`` latency (ball3d.live.tracker.Camera2Det.push, per frame set and all
cameras) is more than the Numba chain that benchmarks/bench_preprocess.py times: each camera frame is also
resampled to the detector's size (fit_prep), turned grey and standardised, its mask clipped, and for a
colour network standardised per channel to float16. This runs bench_live's rendered scene (or --scene /
--cameras / --checkpoint) through the live tracker once to warm up, then once with each of those steps
timed (ms per camera frame, mean and p50), beside the stage latencies of the same run and the detect stage
per frame set (how many sets ran full-frame re-acquisition passes, > FULL_FRAME_MS, and the ROI sets' range).

    python benchmarks/bench_live_stages.py --out results/bench/live_stages.json [--frames 30]
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_live  # noqa: E402
import numpy as np  # noqa: E402

from ball3d.detection.inputs import fit_prep, grey, standardise, standardise_color  # noqa: E402
from ball3d.live import tracker  # noqa: E402
from ball3d.live.__main__ import load_params  # noqa: E402
from ball3d.live.run import run_live  # noqa: E402

FULL_FRAME_MS = 200.0  # detect stage of one frame set above this: full-frame passes (ROI sets: 30-50 ms here)
STEPS = ("chain", "fit_prep", "grey_standardise", "mask", "color_standardise")


def timed_push(times: dict):
    """Camera2Det.push with each step timed (the same calls in the same order)."""
    def push(self, i, frame):
        t0 = time.perf_counter()
        img, mask = self.pre(frame)
        t1 = time.perf_counter()
        imgs, fg, _ = fit_prep(img[None], mask[None], self.pre.K_out, self.size)
        t2 = time.perf_counter()
        self.clip.gray.push(i, standardise(grey(imgs))[0])
        t3 = time.perf_counter()
        self.clip.fg.push(i, np.clip(fg[0].astype(np.float32), 0, 1))
        t4 = time.perf_counter()
        if self.color:
            self.clip.color.push(i, standardise_color(imgs)[0])
        t5 = time.perf_counter()
        for k, v in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            times[k].append(1e3 * v)
        times["sizes"] = {"preprocessed": list(img.shape[:2][::-1]), "detector": list(self.size), "color": self.color}
    return push


def main() -> None:
    ap = bench_live.arguments(__doc__.split("\n")[0], frames=30)
    a = ap.parse_args()
    original = tracker.Camera2Det.push
    with tempfile.TemporaryDirectory() as tmp:
        if a.scene:
            scene, calib, ckpt = Path(a.scene), Path(a.cameras), Path(a.checkpoint)
        else:
            scene, calib, ckpt = bench_live.render(Path(tmp), a)
        sources = bench_live.sources_of(scene)
        params = load_params(str(ROOT / "params.yaml"))
        params["preprocess"]["backend"], params["detect"]["device"] = "cpu", "cpu"
        bench_live.live(sources, calib, ckpt, params, a)  # warm-up: numba and torch compile once
        times: dict = {k: [] for k in STEPS}
        tracker.Camera2Det.push = timed_push(times)
        records: list[dict] = []
        try:
            res = run_live(sources, calib, ckpt, params, records.append, pace="fast", queue_frames=a.queue_frames,
                           threads=a.threads)
        finally:
            tracker.Camera2Det.push = original
    run = res.summary
    detect = [r["latency_ms"]["detect"] for r in records if r["type"] == "frame"]
    full = [d for d in detect if d > FULL_FRAME_MS]
    out = {"cameras": len(sources), "frames": a.frames, "size": [a.width, a.height], "threads": a.threads,
           "sizes": times.pop("sizes"),
           "ms_per_camera_frame": {k: {"mean": round(float(np.mean(v)), 3), "p50": round(float(np.median(v)), 3)}
                                   for k, v in times.items() if v},
           "stage_latency_ms": {k: {"p50": v["p50"], "p95": v["p95"]} for k, v in run["latency_ms"].items()},
           "frame_sets_per_s": run["frame_sets_per_s"],
           # a set whose detect stage took > FULL_FRAME_MS ran full-frame passes (re-acquisition): ~10x an ROI pass
           "detect_ms_per_set": {"sets": len(detect), "full_frame_sets": len(full),
                                 "full_frame_range": [round(min(full), 1), round(max(full), 1)] if full else None,
                                 "roi_range": [round(min(d for d in detect if d <= FULL_FRAME_MS), 1),
                                               round(max(d for d in detect if d <= FULL_FRAME_MS), 1)]
                                 if len(full) < len(detect) else None},
           "states": dict(Counter(r["state"] for r in records if r["type"] == "frame"))}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("sizes", "ms_per_camera_frame", "frame_sets_per_s", "detect_ms_per_set")}))


if __name__ == "__main__":
    main()
