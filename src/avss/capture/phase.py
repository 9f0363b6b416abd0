"""Entry points of the capture, score and prune phases (one function per rule; I/O at the edges).

Each function takes the rule's paths and its params.yaml section (a plain dict) and writes its
outputs atomically. Outputs:
- results/capture/stats.npz + stats.json  (``run_capture``; see ``avss.capture``)
- results/capture/ppl_drop.json           (``run_ppl_drop``: dense + leave-one-out perplexity)
- results/score/scores.json               (``run_score``; see ``avss.scores``), key ``_meta`` holds provenance
- results/prune/<method>/<ratio|nK>/      (``run_prune``; see ``avss.prune``)
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from avss.pruning.prune import load_model, save_pruned
from avss.pruning.scores import ScoreConfig, ScoreInputs, score_all
from avss.stats import HistSpec
from pipeutil.io import PipelineError, write_json

from .engine import (
    CaptureConfig,
    calibration_windows,
    capture_token_batches,
    load_capture,
    save_capture,
    window_batches,
)
from .layer_ppl import leave_one_out_perplexity

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PipelineError(f"capture.device: {device!r} requested but CUDA is not available")
    return device


def capture_config(p: dict) -> CaptureConfig:
    return CaptureConfig(site=p["site"], pooling=p["pooling"], batch_size=int(p["batch_size"]),
                         max_length=int(p["seq_len"]), thresholds=tuple(float(t) for t in p["exact_thresholds"]),
                         hist=HistSpec(**p["hist"]), progress=bool(p.get("progress", True)))


def _read_text(path) -> str:
    text = Path(path).read_text(encoding="utf-8") if Path(path).is_file() else ""
    if not text.strip():
        raise PipelineError(f"{path}: the calibration text is missing or empty")
    return text


def _windows(model_dir, text_path, p: dict, n: int):
    torch.manual_seed(int(p["seed"]))
    text = _read_text(text_path)  # fail on a bad text before loading the model
    model, tok = load_model(model_dir, resolve_device(p["device"]), p["dtype"])
    windows = calibration_windows(text, tok, n, int(p["seq_len"]), int(p["seed"]),
                                  tuple(p["text_range"]))
    return model, windows  # windows: [n, seq_len]


def run_capture(model_dir, text_path, p: dict, npz_path, json_path) -> dict:
    """Hooked pass over the seeded wiki calibration windows -> stats.npz + stats.json."""
    t0 = time.perf_counter()
    model, windows = _windows(model_dir, text_path, p, int(p["n_samples"]))
    cfg = capture_config(p)
    n_batches = -(-windows.shape[0] // cfg.batch_size)
    res = capture_token_batches(model, window_batches(windows, cfg.batch_size), cfg, total=n_batches)
    extra = {"model_dir": str(model_dir), "model_type": model.config.model_type, "text": str(text_path),
             "calibration": {k: p[k] for k in ("n_samples", "seq_len", "seed", "text_range", "device", "dtype")}}
    save_capture(res, npz_path, json_path, extra)  # no wall-clock field: same params -> same bytes
    log.info("captured %d layers over %d tokens in %.1f s", len(res.layers), res.meta["n_tokens"],
             time.perf_counter() - t0)
    return {**res.meta, **extra}


def run_ppl_drop(model_dir, text_path, p: dict, out_json) -> dict:
    """Leave-one-out perplexity on the first ``ppl_samples`` calibration windows -> ppl_drop.json."""
    t0 = time.perf_counter()
    model, windows = _windows(model_dir, text_path, p, int(p["n_samples"]))
    windows = windows[: int(p["ppl_samples"])]  # [n_ppl, T]
    res = leave_one_out_perplexity(model, windows, int(p["ppl_batch_size"]), bool(p.get("progress", True)))
    res.update(model_dir=str(model_dir))
    write_json(out_json, res)
    log.info("leave-one-out perplexity of %d layers in %.1f s", len(windows), time.perf_counter() - t0)
    return res


def score_config(p: dict) -> ScoreConfig:
    a = p["avss"]
    return ScoreConfig(variance_axis=a["variance_axis"], sparsity_mode=a["sparsity_mode"],
                       sparsity_value=float(a["sparsity_value"]), combination=a["combination"],
                       guard_delta=float(a["guard_delta"]), cumulative_budget=float(a["cumulative_budget"]),
                       ratios=tuple(float(r) for r in p["ratios"]), counts=tuple(int(c) for c in p.get("counts", [])),
                       protect_first=bool(p["protect_first"]), protect_last=bool(p["protect_last"]),
                       seed=int(p["seed"]), methods=tuple(p["methods"]))


def run_score(npz_path, json_path, ppl_path, p: dict, out_json) -> dict:
    """Every method's per-layer scores, ranking and selections -> scores.json."""
    res = load_capture(npz_path, json_path)
    try:
        ppl = json.loads(Path(ppl_path).read_text()) if ppl_path else None
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{ppl_path}: cannot read the leave-one-out perplexities ({exc})") from exc
    cfg = score_config(p)
    scores = score_all(ScoreInputs(res.layers, res.angular, HistSpec(**res.meta["config"]["hist"]), ppl), cfg)
    meta = {"n_layers": len(res.layers), "model_dir": res.meta.get("model_dir"), "n_tokens": res.meta["n_tokens"],
            "capture": res.meta["config"], "score": p}
    write_json(out_json, {"_meta": meta, **scores})
    return scores


def selection_of(scores: dict, method: str, sel: str) -> list[int]:
    """Layers of ``method`` at ``sel`` ("0.25" = ratio, "n8" = count) from scores.json content."""
    if method not in scores or method == "_meta":
        raise PipelineError(f"prune.save: method {method!r} is not in scores.json (methods: "
                            f"{[m for m in scores if m != '_meta']})")
    table, key = (scores[method]["selected_count"], sel[1:]) if sel.startswith("n") else (scores[method]["selected"], sel)
    if key not in table:
        raise PipelineError(f"prune.save: {method} has no selection {sel!r}; add the ratio to score.ratios "
                            f"or the count to score.counts (available: {sorted(table)})")
    return table[key]


def run_prune(model_dir, scores_path, method: str, sel: str, p: dict, out_dir) -> dict:
    """Save the model with ``method``'s selection ``sel`` removed as a Hugging Face folder (verified)."""
    scores = json.loads(Path(scores_path).read_text())
    layers = selection_of(scores, method, sel)
    model, tok = load_model(model_dir, resolve_device(p["device"]), "auto")
    ids = tok(p["check_prompt"], return_tensors="pt")["input_ids"].to(next(model.parameters()).device)  # [1, T]
    info = {"method": method, "selection": sel, "source_model": str(model_dir), "dtype": str(model.dtype)}
    return save_pruned(model, tok, layers, out_dir, info, ids)


def prune_targets(p: dict) -> list[str]:
    """Folder names results/prune/<method>/<sel> for the ``prune.save`` entries."""
    out = []
    for entry in p["save"]:
        sel = f"n{int(entry['count'])}" if entry.get("count") is not None else f"{float(entry['ratio']):g}"
        out.append(f"results/prune/{entry['method']}/{sel}")
    return out
