"""Detection metrics: precision, recall and F1 within a pixel tolerance, overall and per subset.

Per camera and frame (full-resolution distorted pixels):
- ground truth positive: the ball is in the image (uv not null) and ``visible_fraction >= min_visible``;
- the detector's answer is its best candidate if its score >= ``score_threshold`` (else "no ball");
- TP: answer within ``tol_px`` of the truth; FP: an answer that is not a TP (no ball there, or too
  far); FN: a positive without a TP (a far answer counts as both FP and FN, as in TrackNet);
- a ball in the image but less than ``min_visible`` visible (mostly or fully hidden) is a
  "don't care" for an answer within ``tol_px`` of it: neither a TP nor an FP (the answer is right
  about where the ball is; the frame is simply not counted); an answer elsewhere is an FP;
- top-K recall: a positive with any of the K candidates within ``tol_px`` (what association sees).
Precision is 1 when nothing was answered, recall is 1 when nothing was to be found.

Subsets (a frame may be in several; thresholds from params): ``occluded`` = ball in the image
with visible_fraction < ``occluded_below``; ``low_light`` = the camera is rendered dark and noisy;
``blurred`` = blur streak >= ``blurred_above`` px; ``clean`` = none of these.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUBSETS = ("clean", "occluded", "low_light", "blurred")


@dataclass
class MetricParams:
    tol_px: float = 5.0  # full-resolution pixels between answer and truth for a TP
    score_threshold: float = 0.5  # the best candidate counts as an answer at or above this score
    min_visible: float = 0.25  # visible_fraction below which the ball counts as not visible (negative)
    occluded_below: float = 0.75  # visible_fraction below which a frame is in the occluded subset
    blurred_above: float = 8.0  # blur streak length (full-res px) at or above which a frame is blurred


def frame_subsets(uv, visible: float, blur: float, low_light: bool, p: MetricParams) -> list[str]:
    """Subsets a camera-frame belongs to."""
    subs = []
    if uv is not None and visible < p.occluded_below:
        subs.append("occluded")
    if low_light:
        subs.append("low_light")
    if blur >= p.blurred_above:
        subs.append("blurred")
    return subs or ["clean"]


def frame_outcome(uv, visible: float, cands, p: MetricParams) -> dict:
    """Counts of one camera-frame: tp, fp, fn, tn, pos, topk_hit."""
    positive = uv is not None and visible >= p.min_visible
    cands = np.asarray(cands, dtype=np.float64).reshape(-1, 3)
    answer = cands[0] if len(cands) and cands[0, 2] >= p.score_threshold else None
    d_all = np.hypot(cands[:, 0] - uv[0], cands[:, 1] - uv[1]) if positive and len(cands) else np.zeros(0)
    near = answer is not None and uv is not None and float(np.hypot(answer[0] - uv[0], answer[1] - uv[1])) <= p.tol_px
    hit = positive and near
    if near and not positive:  # a hidden ball found where it is: don't care
        return {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "pos": 0, "topk_hit": 0}
    return {"tp": int(hit), "fp": int(answer is not None and not hit), "fn": int(positive and not hit),
            "tn": int(not positive and answer is None), "pos": int(positive),
            "topk_hit": int(positive and bool(np.any(d_all <= p.tol_px)))}


def prf(c: dict) -> dict:
    """Precision, recall, F1 and top-K recall from summed counts."""
    tp, fp, fn = c.get("tp", 0), c.get("fp", 0), c.get("fn", 0)
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    topk = c.get("topk_hit", 0) / c["pos"] if c.get("pos") else 1.0
    return {**{k: int(v) for k, v in c.items()}, "precision": round(prec, 4), "recall": round(rec, 4),
            "f1": round(f1, 4), "topk_recall": round(topk, 4)}


def _add(acc: dict, key: str, o: dict) -> None:
    slot = acc.setdefault(key, {"n": 0, "tp": 0, "fp": 0, "fn": 0, "tn": 0, "pos": 0, "topk_hit": 0})
    slot["n"] += 1
    for k, v in o.items():
        slot[k] += v


def accumulate(truth: dict, per_camera: dict, p: MetricParams, acc: dict | None = None) -> dict:
    """Add one scene's outcomes to ``acc``: {(camera|"all", subset|"overall"): counts}."""
    acc = {} if acc is None else acc
    for cam, pc in truth["per_camera"].items():
        if cam not in per_camera:
            raise KeyError(f"scene {truth.get('scene_id')}: no detections for camera {cam!r}")
        rows = per_camera[cam]
        if len(rows) != len(pc["uv"]):
            raise ValueError(f"scene {truth.get('scene_id')} camera {cam!r}: {len(rows)} detection frames "
                             f"for {len(pc['uv'])} truth frames")
        low = bool(pc.get("low_light", False))
        for uv, vis, blur, cands in zip(pc["uv"], pc["visible_fraction"], pc["blur_px"], rows):
            o = frame_outcome(uv, float(vis), cands, p)
            for sub in ["overall", *frame_subsets(uv, float(vis), float(blur), low, p)]:
                _add(acc, f"{cam}|{sub}", o)
                _add(acc, f"all|{sub}", o)
    return acc


def summarise(acc: dict) -> dict:
    """{"overall": prf, "subsets": {name: prf}, "per_camera": {cam: {"overall": prf, "subsets": ...}}}."""
    def block(prefix: str) -> dict:
        return {"overall": prf(acc.get(f"{prefix}|overall", {})),
                "subsets": {s: prf(acc[f"{prefix}|{s}"]) for s in SUBSETS if f"{prefix}|{s}" in acc}}
    cams = sorted({k.split("|")[0] for k in acc} - {"all"})
    return {**block("all"), "per_camera": {c: block(c) for c in cams}}


def evaluate(pairs, p: MetricParams) -> dict:
    """Metrics over several scenes: pairs of (truth dict, per_camera detection rows)."""
    acc: dict = {}
    for truth, per_camera in pairs:
        accumulate(truth, per_camera, p, acc)
    return summarise(acc)


def per_scene_f1(pairs: list[tuple[dict, dict]], mp: MetricParams) -> dict:
    """{scene_id: {"f1": overall F1, "subsets": {subset: F1}, "fp": .., "fn": ..}}: one scene whose track
    was on the wrong object shows here, not only as a dent in the pooled F1."""
    out = {}
    for truth, per_camera in pairs:
        m = evaluate([(truth, per_camera)], mp)
        out[truth["scene_id"]] = {"f1": m["overall"]["f1"], "fp": m["overall"]["fp"], "fn": m["overall"]["fn"],
                                  "subsets": {k: v["f1"] for k, v in m["subsets"].items()}}
    return out


def answers_from_track(per_camera: dict, cams: list, track: dict, radius_px: float, score_threshold: float) -> dict:
    """Each camera's answer as the multi-camera system reports it: the detector's candidates re-read with a 3D
    track (``track``: Track3D dict, ``frames`` / ``xyz``; ``cams``: Camera objects, distorted projection).

    Per camera-frame with a track position projecting in front of the camera: the candidate nearest that
    projection, when within ``radius_px``, becomes the answer (first, its score raised to ``score_threshold``
    if below: the 3D fix vouches for it); when none is that close and the projection lies inside the image,
    every score is capped just below the threshold (no answer: the ball is where the track says, so a
    confident candidate elsewhere is a look-alike, and a hidden ball gives no answer either). Frames without
    a track position are left as the detector wrote them. Returns new rows; ``per_camera`` is not changed."""
    pos = {int(f): np.asarray(x, dtype=np.float64) for f, x in zip(track["frames"], track["xyz"]) if x is not None}
    below = float(np.nextafter(score_threshold, -np.inf))
    out = {}
    for cam in cams:
        if cam.name not in per_camera:
            raise KeyError(f"no detections for camera {cam.name!r}")
        rows = []
        for f, cands in enumerate(per_camera[cam.name]):
            c = [list(map(float, x)) for x in cands]
            if f in pos:
                uv, z = cam.project(pos[f][None])
                u, v = float(uv[0, 0]), float(uv[0, 1])
                if z[0] > 0 and np.isfinite(u) and np.isfinite(v):
                    d = [float(np.hypot(x[0] - u, x[1] - v)) for x in c]
                    j = int(np.argmin(d)) if d else -1
                    if j >= 0 and d[j] <= radius_px:
                        c = [c[j][:2] + [max(c[j][2], score_threshold)]] + c[:j] + c[j + 1:]
                    elif 0 <= u < cam.width and 0 <= v < cam.height:
                        c = [x[:2] + [min(x[2], below)] for x in c]
            rows.append(c)
        out[cam.name] = rows
    return out
