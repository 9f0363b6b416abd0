"""The 3D solve of one scene (phase ``bundle``): from detections + cameras to the 3D tracks of every method.

Methods, all written side by side to results/bundle/<split>/<scene_id>/<detector>.json:
  dlt                  per frame, the top candidate of every camera, linear N-view DLT (no gating)
  ransac               per frame, association.py (RANSAC over views + reprojection gate + refinement)
  ransac_seq           sequence, fusion/sequence.py (top hypotheses per frame, Viterbi over the sequence, re-gate);
                       when bundle.association.sequence it replaces ransac as the input of every method below
  graph_robust         GTSAM graph, robust projection factors only (per frame, no motion prior)
  graph_smoothed       GTSAM graph with the ballistic prior (bounces/kicks break it), marginals
  graph_smoothed_skew  the same with per-camera clock-skew estimation (when bundle.skew_variant)
  streaming_filtered   fixed-lag smoother, estimate available when the frame arrives
  streaming_fixed_lag  fixed-lag smoother, estimate when the frame leaves the window
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, replace

import numpy as np

from ball3d.association import AssocConfig, Association, associate
from ball3d.camera import Camera
from ball3d.records import Track3D
from ball3d.triangulate import dlt
from pipeutil.config import from_params

from .graph import BundleConfig, solve
from .sequence import associate_sequence
from .streaming import stream

log = logging.getLogger(__name__)


def naive_dlt(assoc: Association) -> Track3D:
    """Top-scoring candidate of every camera, all of them, one linear DLT per frame (the baseline)."""
    frames, xyz, support, missing = [], [], [], {}
    for i in range(len(assoc.cand)):
        c = assoc.cand[i]  # (V, K, 3)
        views = np.nonzero(np.isfinite(c[:, 0, 0]))[0]  # candidates are sorted by score: k = 0 is the top
        if len(views) < 2:
            missing[str(i)] = f"detections in {len(views)} camera(s)"
            continue
        X = dlt(assoc.P[views][None], c[views, 0, :2][None])[0]
        if np.all(np.isfinite(X)):
            frames.append(i)
            xyz.append(X.tolist())
            support.append([assoc.cam_names[j] for j in views])
        else:
            missing[str(i)] = "degenerate DLT"
    return Track3D(frames, xyz, None, support, "dlt", {"missing": missing})


def ransac_track(assoc: Association, method: str = "ransac") -> Track3D:
    ok = [f for f in assoc.fixes if f.xyz is not None]
    return Track3D([f.frame for f in ok], [f.xyz.tolist() for f in ok], None,
                   [[assoc.cam_names[j] for j in f.cams] for f in ok], method,
                   {"residual_px": [f.reproj_px.tolist() for f in ok],
                    "missing": {str(f.frame): f.reason for f in assoc.fixes if f.xyz is None}})


def solve_scene(cameras: list[Camera], candidates: dict, fps: float, params: dict, timing: dict | None = None) -> dict:
    """Every method on one scene; returns the payload of the bundle output file. ``timing``, when given,
    receives the wall-clock figures (seconds per step, fusion ms per frame, streaming update ms), which
    stay out of the payload: same inputs, same bytes."""
    acfg = from_params(AssocConfig, params.get("association", {}), "params.yaml: bundle.association")
    gcfg = from_params(BundleConfig, params.get("graph", {}), "params.yaml: bundle.graph")
    # pixel parameters are given at 1920 px image width and scale with the image (like scenes.focal_px)
    s_px = cameras[0].width / 1920.0
    acfg = replace(acfg, gate_px=acfg.gate_px * s_px, reassoc_gate_px=acfg.reassoc_gate_px * s_px)
    gcfg = replace(gcfg, pixel_sigma_px=gcfg.pixel_sigma_px * s_px, gap_gate_px=gcfg.gap_gate_px * s_px)
    s = params.get("streaming", {"enabled": True, "lag_frames": 10, "innovation_gate_m": 0.3})
    t0 = time.perf_counter()
    assoc = associate(cameras, candidates, acfg)
    clock = {"association_s": time.perf_counter() - t0}
    tracks = {"dlt": naive_dlt(assoc), "ransac": ransac_track(assoc)}
    summary = assoc.summary()
    if acfg.sequence:  # the sequence association feeds the graph; the per-frame one stays for comparison
        t0 = time.perf_counter()
        assoc = associate_sequence(cameras, candidates, acfg, fps)
        clock["association_seq_s"] = time.perf_counter() - t0
        tracks["ransac_seq"] = ransac_track(assoc, "ransac_seq")
        summary = {"per_frame": summary, "sequence": assoc.summary()}
    clock["fusion_ms_per_frame"] = 1e3 * clock["association_seq_s" if acfg.sequence else "association_s"] / max(
        len(assoc.fixes), 1)
    variants = [("graph_robust", BundleConfig(**{**asdict(gcfg), "motion_prior": False, "refine_cameras": False})),
                ("graph_smoothed", gcfg)]
    if params.get("skew_variant", False) and not gcfg.estimate_skew:
        variants.append(("graph_smoothed_skew", BundleConfig(**{**asdict(gcfg), "estimate_skew": True})))
    for name, cfg in variants:
        t0 = time.perf_counter()
        res = solve(cameras, assoc, cfg, fps)
        clock[f"{name}_s"] = time.perf_counter() - t0
        tracks[name] = res.track
        if cfg.refine_cameras:
            res.track.meta["cameras_refined"] = [c.to_dict() for c in res.cameras]
    if s.get("enabled", True):
        t0 = time.perf_counter()
        clock["streaming_update_ms"] = {}
        tracks["streaming_filtered"], tracks["streaming_fixed_lag"] = stream(
            cameras, assoc, gcfg, fps, int(s["lag_frames"]), float(s["innovation_gate_m"]), clock["streaming_update_ms"])
        clock["streaming_s"] = time.perf_counter() - t0
    if timing is not None:
        timing.update(clock)
    log.info("timing: %s", {k: v for k, v in clock.items() if k.endswith("_s")})
    return {"n_frames": len(assoc.fixes), "cameras": [c.name for c in cameras],
            "association": summary, "tracks": {k: asdict(v) for k, v in tracks.items()}}


