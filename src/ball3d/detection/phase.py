"""Phase entry points of the detector: train on scene folders, detect per scene, score detections.

Each function is what one rule script calls. Inputs are scene folders (``truth.json`` + videos,
contract in ``ball3d.records``); outputs are written atomically.
"""
from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ball3d.fusion.phase import load_cameras
from pipeutil.io import PipelineError, write_json
from pipeutil.sources import parse_source, sha256_of

from .classical import ClassicalParams, detect_clip_classical
from .infer import DetectParams, detect_scene_net, to_full_res
from .inputs import iter_scene_clips, load_truth
from .metrics import MetricParams, evaluate
from .network import DetectorConfig, load_checkpoint, resolve_device, save_checkpoint
from .roi3d import assoc_config, detect_scene_roi3d
from .train import TrainParams, clip_bank, fit, merge_banks

log = logging.getLogger(__name__)
DETECTORS = ("heatmap", "classical")


@dataclass(frozen=True)
class SceneInput:
    """Where one scene's detector input lives: the scene folder, and for input 'preprocess' the
    preprocess phase's folder plus the calibrated cameras it was made with."""
    scene_dir: str
    prep_dir: str | None = None
    calib_dir: str | None = None

    def load(self, scale: float, color: bool = False):
        """Truth and an iterator of camera clips (loaded one at a time)."""
        truth = load_truth(self.scene_dir)
        return truth, iter_scene_clips(self.scene_dir, truth, scale, self.prep_dir, self.calib_dir, color=color)


def scene_inputs(truths: list[str], preps: list[str] | None, calibs: list[str] | None) -> list[SceneInput]:
    """SceneInputs from aligned lists of truth.json paths and (optional) preprocess / calibrate folders."""
    preps, calibs = preps or [None] * len(truths), calibs or [None] * len(truths)
    if not (len(truths) == len(preps) == len(calibs)):
        raise PipelineError(f"detector inputs: {len(truths)} scenes, {len(preps)} pre-processed, {len(calibs)} calibrated")
    return [SceneInput(str(Path(t).parent), p, c) for t, p, c in zip(truths, preps, calibs)]


def configs(train_cfg: dict, detect_cfg: dict) -> tuple[DetectorConfig, TrainParams, DetectParams, ClassicalParams, MetricParams]:
    """Dataclass parameters from the params.yaml sections train_detector and detect."""
    net = DetectorConfig.from_dict({**train_cfg["network"], "input_source": train_cfg["input"]}, "params.yaml: train_detector.network")
    tp = TrainParams(**{k: v for k, v in train_cfg.items() if k not in ("network", "input")})
    d = dict(detect_cfg)
    cp, mp = ClassicalParams(**d.pop("classical")), MetricParams(**d.pop("metrics"))
    dp = DetectParams(**{k: v for k, v in d.items() if k in DetectParams.__dataclass_fields__})
    return net, tp, dp, cp, mp


def _scene_banks(scenes: list[SceneInput], cfg: DetectorConfig, tp: TrainParams):
    rng = np.random.default_rng(tp.seed)
    banks, ids = [], []
    for sc in scenes:
        truth, clips = sc.load(cfg.scale, cfg.color)
        ids.append(truth["scene_id"])
        banks += [clip_bank(c, truth["per_camera"][c.camera], cfg, tp, rng) for c in clips]
        log.info("scene %s: camera clips banked (%d windows so far)", truth["scene_id"], sum(len(b.x) for b in banks))
    if not banks:
        raise PipelineError("train_detector: no training scenes given (params scenes: train split is empty?)")
    return merge_banks(banks), ids


def detect_scenes_net(model, scenes: list[SceneInput], dp: DetectParams) -> list[tuple[dict, dict]]:
    """(truth, per_camera rows) for each scene, using the network (validation during training: mode
    roi3d needs calibrated cameras, so a scene without them is validated in mode roi)."""
    pairs = []
    for sc in scenes:
        mode = dp.mode
        if mode == "roi3d" and sc.calib_dir is None:
            log.info("validation scene %s: no calibrated cameras, detect.mode roi instead of roi3d", sc.scene_dir)
            mode = "roi"
        truth, per_camera, _ = _detect_net(model, sc, replace(dp, mode=mode))
        pairs.append((truth, per_camera))
    return pairs


def _detect_net(model, scene: SceneInput, dp: DetectParams, assoc: dict | None = None,
                timing: dict | None = None) -> tuple[dict, dict, dict]:
    """The network on one scene in ``dp.mode``: truth, per_camera rows (full-res) and run statistics
    (``timing``, when given, receives the wall-clock figures)."""
    if dp.mode != "roi3d":
        truth, clips = scene.load(model.cfg.scale, model.cfg.color)
        return (truth, *detect_scene_net(model, clips, dp, timing))
    if scene.calib_dir is None:
        raise PipelineError(f"params.yaml: detect.mode 'roi3d' needs the calibrated cameras of scene {scene.scene_dir} "
                            "(missing input 'calib': results/calibrate/<split>/<scene_id>); use detect.mode roi or full")
    truth, clips = scene.load(model.cfg.scale, model.cfg.color)
    cams = load_cameras(scene.calib_dir, truth, "calibrated")
    clips = list(clips)  # every camera in memory at once: the loop is frame-synchronous
    per_camera, stats = detect_scene_roi3d(model, clips, cams, dp, float(truth["fps"]),
                                           assoc_config(assoc, cams[0].width), float(truth.get("ball_radius_m", 0.11)),
                                           timing)
    return truth, per_camera, stats


def run_train(train: list[SceneInput], val: list[SceneInput], checkpoint: str, report: str, curve_png: str,
              cfg: DetectorConfig, tp: TrainParams, dp: DetectParams, mp: MetricParams,
              timing_path: str | None = None) -> dict:
    """Train on ``train`` scenes, validate on ``val`` scenes; write checkpoint, report JSON and curve plot
    (and the wall-clock figures to ``timing_path``: they are kept out of the checkpoint and the report)."""
    t0 = time.perf_counter()
    torch.set_num_threads(tp.threads)
    bank, train_ids = _scene_banks(train, cfg, tp)
    log.info("bank: %d windows of %s, %.0f MB", len(bank.x), bank.x.shape[1:], bank.x.nbytes / 2**20)
    curve_s: list = []
    model, curve = fit(bank, cfg, tp, curve_s)
    train_s = time.perf_counter() - t0
    val_pairs = detect_scenes_net(model, val, dp)
    val_metrics = evaluate(val_pairs, mp) if val_pairs else {}
    val_ids = [t["scene_id"] for t, _ in val_pairs]
    prov = {"train_scenes": train_ids, "val_scenes": val_ids, "train_params": asdict(tp), "steps": tp.steps,
            "final_loss": curve[-1]["loss"] if curve else None, "torch": str(torch.__version__),
            "python": platform.python_version()}
    sha = save_checkpoint(checkpoint, model, prov)
    out = {"checkpoint": str(checkpoint), "sha256": sha, "config": asdict(cfg), "input_channels": cfg.in_channels,
           "provenance": prov, "curve": curve, "detect_params": asdict(dp), "metric_params": asdict(mp),
           "val_metrics": val_metrics}
    plot_curve(curve, val_metrics, curve_png)
    write_json(report, out)
    if timing_path is not None:
        write_json(timing_path, {"train_seconds": round(train_s, 2), "total_seconds": round(time.perf_counter() - t0, 2),
                                 "curve": curve_s})
    return out


def plot_curve(curve: list[dict], val: dict, path: str) -> None:
    """Training loss against step, with the validation F1 per subset in the title."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeutil.io import atomic_path
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([c["step"] for c in curve], [c["loss"] for c in curve], marker="o", ms=3)
    ax.set(xlabel="step", ylabel="weighted BCE", yscale="log", title="heatmap detector training")
    if val:
        subs = ", ".join(f"{k} {v['f1']:.2f}" for k, v in val.get("subsets", {}).items())
        ax.set_title(f"val F1 {val['overall']['f1']:.3f} ({subs})", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def checkpoint_path(detect_cfg: dict, trained: str | None) -> str:
    """The heatmap checkpoint to detect with: params detect.checkpoint, a ``file:<path>`` source (checked
    against detect.checkpoint_sha256 when given), or when that is null ``trained`` (this run's
    results/train_detector/model.pt)."""
    src = detect_cfg.get("checkpoint")
    if src is None:
        if trained is None:
            raise PipelineError("detect: no heatmap checkpoint (params detect.checkpoint is null and no trained model "
                                "was given)")
        return str(trained)
    where = "params.yaml: detect.checkpoint"
    parsed = parse_source(src, where)
    if parsed.scheme != "file":
        raise PipelineError(f"{where}: a detector checkpoint is read from a 'file:<path>' source, got {src!r}")
    path = Path(parsed.spec).expanduser()
    if not path.is_file():
        raise PipelineError(f"{where}: file {path} not found")
    want = detect_cfg.get("checkpoint_sha256")
    if want and sha256_of(path) != str(want).lower():
        raise PipelineError(f"{where}: {path} has sha256 {sha256_of(path)}, detect.checkpoint_sha256 expects {want}")
    return str(path)


def run_detect(scene: SceneInput, out_path: str, detector: str, checkpoint: str | None, dp: DetectParams,
               cp: ClassicalParams, threads: int = 2, assoc: dict | None = None,
               timing_path: str | None = None) -> dict:
    """Detect the ball in every camera of one scene; write results/detect/.../<detector>.json (and the
    wall-clock figures to ``timing_path``).

    assoc: params.yaml bundle.association (mode roi3d associates each frame's candidates across cameras)."""
    if detector not in DETECTORS:
        raise PipelineError(f"detect: unknown detector {detector!r}; known: {list(DETECTORS)}")
    t0 = time.perf_counter()
    torch.set_num_threads(threads)
    meta: dict = {"detector": detector}
    timing: dict = {}
    if detector == "heatmap":
        source = "preprocess" if scene.prep_dir else "video"
        model, prov = load_checkpoint(checkpoint, expect={"input_source": source})
        model.to(resolve_device(dp.device))
        truth, per_camera, stats = _detect_net(model, scene, dp, assoc, timing)
        meta.update(checkpoint=str(checkpoint), train_scenes=prov.get("train_scenes"), params=asdict(dp), stats=stats)
    else:
        truth, clips = scene.load(cp.scale)
        per_camera = {c.camera: to_full_res(c, detect_clip_classical(c, cp)) for c in clips}
        meta.update(params=asdict(cp))
    out = {"scene_id": truth["scene_id"], "detector": detector, "per_camera": per_camera, "meta": meta}
    write_json(out_path, out)
    if timing_path is not None:
        write_json(timing_path, {"total_seconds": round(time.perf_counter() - t0, 3), **timing})
    return out


def _load_detections(path: str, truth: dict) -> dict:
    try:
        det = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path}: cannot read detections ({exc})") from exc
    if det.get("scene_id") != truth["scene_id"]:
        raise PipelineError(f"{path}: detections of scene {det.get('scene_id')!r}, truth is {truth['scene_id']!r}")
    return det["per_camera"]


def run_metrics(scene_dirs: list[str], det_files: dict[str, list[str]], out_path: str, plot_path: str,
                mp: MetricParams) -> dict:
    """Per-detector metrics over held-out scenes; det_files: detector -> files aligned with scene_dirs."""
    truths = [load_truth(d) for d in scene_dirs]
    gt = [t.get("ground_truth", True) for t in truths]  # false: real footage (split real), nothing to score
    result = {"metric_params": asdict(mp), "scenes": [t["scene_id"] for t, g in zip(truths, gt) if g],
              "skipped_no_truth": [t["scene_id"] for t, g in zip(truths, gt) if not g], "detectors": {}}
    for name, files in det_files.items():
        if len(files) != len(truths):
            raise PipelineError(f"detection metrics: {len(files)} {name} files for {len(truths)} scenes")
        try:
            pairs = [(t, _load_detections(f, t)) for t, f, g in zip(truths, files, gt) if g]
            if pairs:
                result["detectors"][name] = evaluate(pairs, mp)
        except (KeyError, ValueError) as exc:
            raise PipelineError(f"detection metrics ({name}): {exc}") from exc
    plot_f1(result, plot_path)
    write_json(out_path, result)
    return result


def plot_f1(result: dict, path: str) -> None:
    """Grouped bars: F1 per subset and detector."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeutil.io import atomic_path
    groups = ["overall", "clean", "occluded", "low_light", "blurred"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    dets = list(result["detectors"])
    for k, name in enumerate(dets):
        m = result["detectors"][name]
        vals = [m["overall"]["f1"]] + [m["subsets"].get(g, {}).get("f1", np.nan) for g in groups[1:]]
        ax.bar(np.arange(len(groups)) + (k - (len(dets) - 1) / 2) * 0.8 / len(dets), vals, 0.8 / len(dets), label=name)
    ax.axhline(0.95, ls="--", c="k", lw=0.8)
    ax.axhline(0.85, ls=":", c="k", lw=0.8)
    ax.set(xticks=range(len(groups)), xticklabels=groups, ylim=(0, 1.05), ylabel=f"F1 within {result['metric_params']['tol_px']} px")
    if dets:
        ax.legend(fontsize=8)
    else:  # e.g. only real footage was detected: nothing to score
        ax.text(0.5, 0.5, "no scene with ground truth: nothing scored", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
