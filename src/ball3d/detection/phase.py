"""Phase entry points of the detector: train on scene folders, detect per scene, score detections.

Each function is what one rule script calls. Inputs are scene folders (``truth.json`` + videos,
contract in ``ball3d.records``); outputs are written atomically.
"""
from __future__ import annotations

import logging
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ball3d.constants import BALL_RADIUS_M
from ball3d.detection_metrics import MetricParams, evaluate, per_scene_f1
from ball3d.scene_io import load_cameras, load_detections
from pipeutil.config import from_params
from pipeutil.io import PipelineError, write_json
from pipeutil.sources import parse_source, sha256_of

from .classical import ClassicalParams, detect_clip_classical
from .infer import DetectParams, detect_scene_net, to_full_res
from .inputs import iter_scene_clips, load_truth
from .monitor import MonitorConfig
from .network import DetectorConfig, load_checkpoint, resolve_device, save_checkpoint
from .plots import plot_curve, plot_f1
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


# keys of params.yaml detect that the rules use (or that have their own record), not DetectParams fields
DETECT_RULE_KEYS = ("detectors", "splits", "threads", "checkpoint", "checkpoint_sha256", "classical", "metrics")


def configs(train_cfg: dict, detect_cfg: dict) -> tuple[DetectorConfig, TrainParams, DetectParams, ClassicalParams, MetricParams]:
    """Dataclass parameters from the params.yaml sections train_detector and detect."""
    net = DetectorConfig.from_dict({**train_cfg["network"], "input_source": train_cfg["input"]}, "params.yaml: train_detector.network")
    tp = from_params(TrainParams, train_cfg, "params.yaml: train_detector", skip=("network", "input"))
    cp = from_params(ClassicalParams, detect_cfg["classical"], "params.yaml: detect.classical")
    mp = from_params(MetricParams, detect_cfg["metrics"], "params.yaml: detect.metrics")
    try:
        mcfg = from_params(MonitorConfig, detect_cfg.get("monitor"), "params.yaml: detect.monitor")
    except ValueError as exc:  # MonitorConfig's own range checks
        raise PipelineError(f"params.yaml: detect.monitor: {exc}") from exc
    dp = from_params(DetectParams, {**detect_cfg, "monitor": mcfg}, "params.yaml: detect", skip=DETECT_RULE_KEYS)
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
                                           assoc_config(assoc, cams[0].width), float(truth.get("ball_radius_m", BALL_RADIUS_M)),
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
            pairs = [(t, load_detections(f, t)) for t, f, g in zip(truths, files, gt) if g]
            if pairs:
                result["detectors"][name] = evaluate(pairs, mp)
                result["detectors"][name]["per_scene"] = per_scene_f1(pairs, mp)
        except (KeyError, ValueError) as exc:
            raise PipelineError(f"detection metrics ({name}): {exc}") from exc
    plot_f1(result, plot_path)
    write_json(out_path, result)
    return result




def run_train_detector(train: dict, val: dict, train_cfg: dict, detect_cfg: dict, threads: int, checkpoint: str,
                       report: str, curve_png: str, timing_path: str) -> dict:
    """Rule train_detector. ``train`` / ``val``: {"truth": [truth.json], "prep": [...], "calib": [...]} of the
    train and val scenes (prep and calib only for train_detector.input preprocess)."""
    net, tp, dp, _, mp = configs(train_cfg, detect_cfg)
    tp.threads = threads
    return run_train(scene_inputs(train["truth"], train.get("prep"), train.get("calib")),
                     scene_inputs(val["truth"], val.get("prep"), val.get("calib")),
                     checkpoint, report, curve_png, net, tp, dp, mp, timing_path)


def run_detect_scene(truth: str, prep: str | None, calib: str | None, trained: str | None, detector: str,
                     train_cfg: dict, detect_cfg: dict, assoc_cfg: dict, threads: int, out_path: str,
                     timing_path: str) -> dict:
    """Rule detect_scene: one scene, one detector. ``trained``: this run's model.pt (used when
    detect.checkpoint is null)."""
    _, _, dp, cp, _ = configs(train_cfg, detect_cfg)
    scene = scene_inputs([truth], [prep] if prep else None, [calib] if calib else None)[0]
    model = checkpoint_path(detect_cfg, trained) if detector == "heatmap" else None
    return run_detect(scene, out_path, detector, model, dp, cp, threads=threads, assoc=assoc_cfg,
                      timing_path=timing_path)


def run_detect_metrics(truths: list[str], detections: list[str], detectors: list[str], detect_cfg: dict,
                       out_path: str, plot_path: str) -> dict:
    """Rule detect_metrics: P/R/F1 of every detector over the scenes of ``truths`` (``detections``: every
    <detector>.json of those scenes)."""
    scene_dirs = [str(Path(t).parent) for t in truths]
    det_files = {d: [f for f in detections if Path(f).name == f"{d}.json"] for d in detectors}
    return run_metrics(scene_dirs, det_files, out_path, plot_path, from_params(MetricParams, detect_cfg["metrics"], "params.yaml: detect.metrics"))
