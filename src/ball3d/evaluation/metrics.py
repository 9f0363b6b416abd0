"""3D evaluation: per-scene metrics of every method against truth, synthetic sweeps, target checks.

Metrics are small pure functions (arrays in, numbers out). A frame counts as *observable*
when at least two cameras see the ball (truth uv not null, visible fraction > 0); coverage is
the fraction of observable frames a method returns, ``invented`` counts returned frames that
were not observable and not flagged as interpolated, ``wrong_fixes`` counts returned frames
farther than ``WRONG_FIX_M`` from the truth (a track on the wrong object) and ``missing`` the
observable frames not returned. Headline figures per method (``headline``): RMSE over all
frames beside the median of the per-scene RMSEs, the worst scene and the wrong-fix rate
(wrong fixes / returned frames): one scene on the wrong object must not hide in a pooled mean.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from ball3d.fusion.solve import solve_scene

from .synth import make_problem

log = logging.getLogger(__name__)
WRONG_FIX_M = 0.5  # a returned frame farther than this from the truth is a wrong fix, metres
METHODS = ("dlt", "ransac", "ransac_seq", "graph_robust", "graph_smoothed", "graph_smoothed_skew", "streaming_filtered",
           "streaming_fixed_lag")


def rmse(err: np.ndarray) -> float:
    return float(np.sqrt(np.mean(err ** 2))) if len(err) else float("nan")


def p95(err: np.ndarray) -> float:
    return float(np.percentile(err, 95)) if len(err) else float("nan")


def median(err: np.ndarray) -> float:
    return float(np.median(err)) if len(err) else float("nan")


def track_errors(track: dict, truth_xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames (n,) and Euclidean errors (n,) in metres of a Track3D dict."""
    frames = np.asarray(track["frames"], int)
    if len(frames) == 0:
        return frames, np.zeros(0)
    return frames, np.linalg.norm(np.asarray(track["xyz"], float) - truth_xyz[frames], axis=1)


def observable(truth: dict, min_views: int = 2) -> np.ndarray:
    """(T,) bool: the ball is visible in at least ``min_views`` cameras."""
    n = int(truth["n_frames"])
    count = np.zeros(n, int)
    for pc in truth["per_camera"].values():
        vis = np.array([uv is not None for uv in pc["uv"]]) & (np.asarray(pc.get("visible_fraction", [1.0] * n)) > 0)
        count += vis
    return count >= min_views


def method_metrics(track: dict, truth_xyz: np.ndarray, obs: np.ndarray) -> dict:
    frames, err = track_errors(track, truth_xyz)
    interp = set(track.get("meta", {}).get("interpolated", []))
    invented = [int(f) for f in frames if not obs[f] and int(f) not in interp]
    return {"rmse_m": rmse(err), "median_m": median(err), "p95_m": p95(err),
            "max_m": float(err.max()) if len(err) else float("nan"), "n_frames": len(frames),
            "coverage": float(np.isin(np.nonzero(obs)[0], frames).mean()) if obs.any() else 0.0,
            "wrong_fixes": int(np.sum(err > WRONG_FIX_M)), "missing": int(np.sum(~np.isin(np.nonzero(obs)[0], frames))),
            "invented": len(invented), "interpolated": len(interp)}


def evaluate_scene(payload: dict, truth: dict) -> dict:
    """Metrics of every method in a bundle output file against the scene truth."""
    xyz = np.asarray(truth["ball_xyz"], float)  # (T, 3)
    obs = observable(truth)
    out = {m: method_metrics(t, xyz, obs) for m, t in payload["tracks"].items()}
    return {"scene_id": truth["scene_id"], "methods": out, "observable_frames": int(obs.sum()),
            "n_frames": int(truth["n_frames"])}


def pooled(scenes: list[dict], errors: dict[str, list[np.ndarray]]) -> dict:
    """RMSE / p95 over all frames of all scenes, per method."""
    return {m: {"rmse_m": rmse(np.concatenate(e)) if e else float("nan"),
                "p95_m": p95(np.concatenate(e)) if e else float("nan"),
                "mean_coverage": float(np.mean([s["methods"][m]["coverage"] for s in scenes if m in s["methods"]]))}
            for m, e in errors.items()}


def headline(scenes: list[dict], overall: dict) -> dict:
    """Per method: RMSE over all frames, median of the per-scene RMSEs, the worst scene, scenes with an
    RMSE above WRONG_FIX_M, the wrong-fix rate (wrong fixes / returned frames) and missing frames."""
    out = {}
    for m in overall:
        rows = [(s["scene_id"], s["methods"][m]) for s in scenes if m in s["methods"]]
        r = np.array([v["rmse_m"] for _, v in rows], float)
        worst = int(np.nanargmax(r)) if np.isfinite(r).any() else None
        returned, wrong = sum(v["n_frames"] for _, v in rows), sum(v["wrong_fixes"] for _, v in rows)
        out[m] = {"rmse_all_frames_m": overall[m]["rmse_m"], "median_scene_rmse_m": float(np.nanmedian(r)) if
                  np.isfinite(r).any() else float("nan"),
                  "worst_scene": rows[worst][0] if worst is not None else None,
                  "worst_scene_rmse_m": float(r[worst]) if worst is not None else float("nan"),
                  "scenes": len(rows), "scenes_rmse_above_wrong_fix": int(np.sum(r > WRONG_FIX_M)),
                  "returned_frames": returned, "wrong_fixes": wrong,
                  "wrong_fix_rate": wrong / returned if returned else 0.0,
                  "missing_frames": sum(v["missing"] for _, v in rows)}
    return out


def evaluate_all(pairs: list[tuple[dict, dict]]) -> dict:
    """[(bundle payload, truth)] -> per-scene metrics, pooled metrics and headline figures per method."""
    scenes, errors = [], {}
    for payload, truth in pairs:
        scenes.append(evaluate_scene(payload, truth))
        for m, t in payload["tracks"].items():
            errors.setdefault(m, []).append(track_errors(t, np.asarray(truth["ball_xyz"], float))[1])
    overall = pooled(scenes, errors)
    return {"scenes": scenes, "overall": overall, "headline": headline(scenes, overall),
            "wrong_fix_m": WRONG_FIX_M}


def scene_table(result: dict, method: str) -> str:
    """Markdown table of one method over the scenes of ``evaluate_all`` (lengths in cm), headline below."""
    lines = [f"Method `{method}`: per test scene (errors in cm; wrong fix = error > {WRONG_FIX_M * 100:.0f} cm)", "",
             "| scene | RMSE | median | p95 | coverage | frames | wrong fixes | missing |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in result["scenes"]:
        v = s["methods"].get(method)
        if v is None:
            continue
        lines.append(f"| {s['scene_id']} | {_cm(v['rmse_m'])} | {_cm(v['median_m'])} | {_cm(v['p95_m'])} | "
                     f"{v['coverage']:.3f} | {v['n_frames']} | {v['wrong_fixes']} | {v['missing']} |")
    h = result["headline"].get(method)
    if h:
        head = (f"Headline: RMSE over all frames {_cm(h['rmse_all_frames_m'])} cm, median of scene RMSEs "
                f"{_cm(h['median_scene_rmse_m'])} cm, worst scene {h['worst_scene']} {_cm(h['worst_scene_rmse_m'])} cm, "
                f"{h['scenes_rmse_above_wrong_fix']} of {h['scenes']} scenes above {WRONG_FIX_M * 100:.0f} cm, "
                f"wrong fixes {h['wrong_fixes']} of {h['returned_frames']} returned frames "
                f"({100 * h['wrong_fix_rate']:.2f} %), {h['missing_frames']} observable frames missing.")
        lines += ["", head]
    return "\n".join(lines) + "\n"


def _cm(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"


def synthetic_case(case: dict, n_frames: int, seed: int, solver_params: dict, timing: dict | None = None) -> dict:
    """Solve one synthetic problem with every method; per-method metrics (``timing``: see ball3d.fusion.solve.solve_scene)."""
    p = make_problem(n_frames=n_frames, seed=seed, **case)
    payload = solve_scene(p.cameras, {k: [a.tolist() for a in v] for k, v in p.candidates.items()},
                          p.fps, solver_params, timing)
    obs = np.sum([np.isfinite(uv[:, 0]) for uv in p.true_uv.values()], axis=0) >= 2
    return {m: method_metrics(t, p.xyz, obs) for m, t in payload["tracks"].items()}


def run_sweeps(cfg: dict, solver_params: dict, timing: list | None = None) -> list[dict]:
    """One row per (axis, value, seed, method): each axis varied alone around ``cfg['base']``.
    ``timing``, when given, receives one row per (axis, value, seed): seconds and fusion ms per frame."""
    rows = []
    for axis, values in cfg["axes"].items():
        for value in values:
            case = {**cfg["base"], axis: value}
            for seed in cfg["seeds"]:
                t0, clock = time.perf_counter(), {}
                res = synthetic_case(case, int(cfg["n_frames"]), int(seed), solver_params, clock)
                for m, met in res.items():
                    rows.append({"axis": axis, "value": value, "seed": seed, "method": m, **met})
                seconds = time.perf_counter() - t0
                if timing is not None:
                    timing.append({"axis": axis, "value": value, "seed": seed, "seconds": round(seconds, 3),
                                   "fusion_ms_per_frame": clock["fusion_ms_per_frame"]})
                log.info("sweep %s=%s seed %s: %.1f s", axis, value, seed, seconds)
    return rows


def target_checks(cfg: dict, solver_params: dict) -> dict:
    """The DESIGN.md targets on clean synthetic sequences (1 px noise, no false detections, 1080p)."""
    out = {}
    for views, method, limit in ((3, "ransac", 0.05), (3, "graph_smoothed", 0.025), (8, "ransac", 0.015)):
        case = {"n_cameras": views, "noise_px": 1.0, **{k: cfg[k] for k in ("focal_px", "radius_m") if k in cfg}}
        errs = [synthetic_case(case, int(cfg["n_frames"]), int(s),
                               solver_params)[method]["rmse_m"] for s in cfg["seeds"]]
        key = f"rmse_{views}views_1px_{method}"
        out[key] = {"rmse_m": float(np.sqrt(np.mean(np.square(errs)))), "target_m": limit}
        out[key]["pass"] = out[key]["rmse_m"] <= limit
    return out


def mean_over_seeds(rows: list[dict]) -> list[dict]:
    """Average the sweep rows over seeds: one row per (axis, value, method)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["axis"], r["value"], r["method"]), []).append(r)
    return [{"axis": a, "value": v, "method": m, "rmse_m": float(np.sqrt(np.mean([r["rmse_m"] ** 2 for r in g]))),
             "p95_m": float(np.mean([r["p95_m"] for r in g])), "coverage": float(np.mean([r["coverage"] for r in g]))}
            for (a, v, m), g in groups.items()]
