"""Detector training seeds side by side: detection F1 per subset and the 3D wrong-fix rate per seed.

Whether the 3D track locks onto a look-alike depends on the trained network, and the network
depends on the seed and on the machine (CPU float rounding over 1600 steps, issue 16): one
trained detector says little. For every ``--seeds`` value this trains the detector at the
params.yaml defaults (``train_detector.seed`` replaced) on the pipeline's train / val scenes
under ``--results`` (their preprocess and calibrate folders), detects every test scene as the
detect phase does (``detect`` section, mode roi3d with the lost-track monitor), solves the 3D
track as the bundle phase does and scores both: per seed the detection F1 (overall, clean and
each hard subset, per scene) and the per-scene 3D table (RMSE, wrong fixes > 0.5 m, missing);
then the spread over seeds (min / max). ``--reuse SEED=PATH`` scores an existing checkpoint
(e.g. the pipeline's results/train_detector/model.pt for seed 0) instead of training it again.
``--merge A.json B.json ...`` joins the seed rows of earlier runs (e.g. one process per seed, each
with ``--threads 1``, run side by side) into one table and spread, without running anything.

    python benchmarks/bench_seeds.py --seeds 0 1 2 --reuse 0=results/train_detector/model.pt \
        --out results/bench/seeds.json

Cost: one training (~2-5 min of CPU at the defaults) plus the test split's detection and bundle
per seed (about 1 min per 50-frame scene on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ball3d.detection_metrics import MetricParams
from ball3d.detection.phase import (
    configs,
    run_detect,
    run_metrics,
    run_train,
    scene_inputs,
)
from ball3d.evaluation.metrics import evaluate_all
from ball3d.evaluation.phase import detection_3d
from ball3d.fusion.phase import run_bundle

ROOT = Path(__file__).resolve().parents[1]
METHOD = "graph_smoothed"  # the 3D method of the headline figures
SUBSETS = ("overall", "clean", "occluded", "low_light", "blurred")


def split_scenes(results: Path, split: str, prep: bool):
    truths = sorted(str(p) for p in (results / "scenes" / split).glob("*/truth.json"))
    preps = [str(results / "preprocess" / split / Path(t).parent.name) for t in truths] if prep else None
    calibs = [str(results / "calibrate" / split / Path(t).parent.name) for t in truths]
    return scene_inputs(truths, preps, calibs)


def one_seed(seed: int, ckpt: str | None, params: dict, results: Path, work: Path, threads: int) -> dict:
    """Train (unless ``ckpt``), detect the test split, solve, score: one row of the seeds table."""
    td = {**params["train_detector"], "seed": seed, "threads": threads}
    net, tp, dp, cp, mp = configs(td, params["detect"])
    prep = td["input"] == "preprocess"
    t0, trained = time.process_time(), ckpt is None
    if trained:
        ckpt = str(work / f"model_seed{seed}.pt")
        run_train(split_scenes(results, "train", prep), split_scenes(results, "val", prep), ckpt,
                  str(work / f"training_seed{seed}.json"), str(work / f"curve_seed{seed}.png"), net, tp, dp, mp)
    train_cpu = time.process_time() - t0
    tests = split_scenes(results, "test", prep)
    dets, bundles = [], []
    for sc in tests:
        out = str(work / f"det_seed{seed}_{Path(sc.scene_dir).name}.json")
        run_detect(sc, out, "heatmap", ckpt, dp, cp, threads=threads, assoc=params["bundle"]["association"])
        dets.append(out)
        payload = run_bundle(str(Path(sc.scene_dir) / "truth.json"), sc.calib_dir, out, params["bundle"])
        bundles.append(work / f"bundle_seed{seed}_{Path(sc.scene_dir).name}.json")
        bundles[-1].write_text(json.dumps(payload, default=lambda o: np.asarray(o).tolist()))
    row = score_seed(seed, tests, dets, bundles, params, work)
    return {**row, "checkpoint": "trained here" if trained else ckpt,
            "cpu_s": round(time.process_time() - t0, 1), "train_cpu_s": round(train_cpu, 1)}


def score_seed(seed: int, tests, dets: list[str], bundles: list[Path], params: dict, work: Path) -> dict:
    """Detection F1 (raw and re-read with the 3D track) and the 3D per-scene table of one seed's files."""
    pairs = [(json.loads(Path(b).read_text()), json.loads((Path(sc.scene_dir) / "truth.json").read_text()))
             for sc, b in zip(tests, bundles)]
    mp = MetricParams(**params["detect"]["metrics"])
    det = run_metrics([sc.scene_dir for sc in tests], {"heatmap": dets}, str(work / f"m{seed}.json"),
                      str(work / f"m{seed}.png"), mp)["detectors"]["heatmap"]
    ev = evaluate_all(pairs)
    d3p = params["evaluate_vision"]["detection_3d"]
    d3 = detection_3d(pairs, dets, [sc.calib_dir for sc in tests], d3p["method"], float(d3p["radius_px"]), mp)
    f1 = {"overall": det["overall"]["f1"], **{k: v["f1"] for k, v in det["subsets"].items()}}
    w3 = d3["with_3d"]
    f1_3d = {"overall": w3["overall"]["f1"], **{k: v["f1"] for k, v in w3["subsets"].items()}}
    return {"seed": seed, "f1": f1, "f1_with_3d": f1_3d, "f1_per_scene": det["per_scene"],
            "f1_with_3d_per_scene": w3["per_scene_f1"], "headline": ev["headline"][METHOD],
            "headline_by_method": {m: ev["headline"][m] for m in params["evaluate_vision"]["table_methods"]
                                   if m in ev["headline"]},
            "scenes_3d": {s["scene_id"]: s["methods"][METHOD] for s in ev["scenes"]}}


def spread(rows: list[dict]) -> dict:
    """min / max over seeds of each F1 subset and of the headline figures."""
    out = {}
    for s in SUBSETS:
        for key, name in (("f1", "f1"), ("f1_with_3d", "f1_with_3d")):
            v = [r[key][s] for r in rows if s in r.get(key, {})]
            if v:
                out[f"{name}_{s}"] = {"min": min(v), "max": max(v)}
    for k in ("wrong_fix_rate", "median_scene_rmse_m", "worst_scene_rmse_m", "scenes_rmse_above_wrong_fix"):
        v = [r["headline"][k] for r in rows]
        out[k] = {"min": min(v), "max": max(v)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--reuse", action="append", default=[], help="SEED=PATH: score this checkpoint for SEED")
    ap.add_argument("--results", default="results", help="pipeline results holding scenes, preprocess, calibrate")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", default=None, metavar="DIR",
                    help="keep checkpoints, detections and 3D tracks here (default: a temporary folder, removed)")
    ap.add_argument("--rescore", default=None, metavar="DIR",
                    help="score the detections and 3D tracks an earlier --keep DIR run left for --seeds again "
                         "(the current metrics; no training, no detection)")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="join the seed rows of these earlier outputs into --out (nothing is run)")
    a = ap.parse_args()
    if a.merge:
        runs = [json.loads(Path(f).read_text()) for f in a.merge]
        rows = sorted((r for run in runs for r in run["seeds"]), key=lambda r: r["seed"])
        seen = [r["seed"] for r in rows]
        if len(set(seen)) != len(seen):
            raise SystemExit(f"bench_seeds --merge: seed(s) {sorted({x for x in seen if seen.count(x) > 1})} occur in "
                             "more than one file")
        result = {**runs[0], "seeds": rows, "spread": spread(rows), "merged_from": [str(f) for f in a.merge]}
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
        return
    reuse = {int(k): v for k, v in (r.split("=", 1) for r in a.reuse)}
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if a.rescore:
        work = Path(a.rescore)
        td = {**params["train_detector"], "threads": a.threads}
        tests = split_scenes(Path(a.results), "test", td["input"] == "preprocess")
        rows = []
        for seed in a.seeds:
            dets = [str(work / f"det_seed{seed}_{Path(sc.scene_dir).name}.json") for sc in tests]
            bundles = [work / f"bundle_seed{seed}_{Path(sc.scene_dir).name}.json" for sc in tests]
            missing = [str(f) for f in [*map(Path, dets), *bundles] if not Path(f).is_file()]
            if missing:
                raise SystemExit(f"bench_seeds --rescore: {len(missing)} files of seed {seed} missing, e.g. {missing[0]}")
            rows.append({**score_seed(seed, tests, dets, bundles, params, work), "rescored_from": str(work)})
            print(json.dumps({k: rows[-1][k] for k in ("seed", "f1", "f1_with_3d", "headline")}), flush=True)
        result = {"seeds": rows, "spread": spread(rows), "method": METHOD, "machine": platform.processor() or
                  platform.machine(), "torch": str(torch.__version__), "detect_params": params["detect"]}
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
        return
    torch.set_num_threads(a.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_seeds_") as tmp:
        if a.keep:
            Path(a.keep).mkdir(parents=True, exist_ok=True)
            tmp = a.keep
        for seed in a.seeds:
            rows.append(one_seed(seed, reuse.get(seed), params, Path(a.results), Path(tmp), a.threads))
            print(json.dumps({k: rows[-1][k] for k in ("seed", "f1", "f1_with_3d", "headline", "cpu_s")}), flush=True)
    result = {"seeds": rows, "spread": spread(rows), "method": METHOD, "machine": platform.processor() or
              platform.machine(), "torch": str(torch.__version__), "detect_params": params["detect"]}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
