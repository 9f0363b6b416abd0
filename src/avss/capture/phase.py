"""Phase ``capture``: the functions its rules call (I/O at the edges).

Each function takes the rule's paths and the params.yaml section ``capture`` (a plain dict) and writes
its outputs atomically:
- results/capture/stats.npz + stats.json  (``run_capture_stats``; the engine is ``avss.activations``)
- results/capture/ppl_drop.json           (``run_capture_ppl_drop``: dense + leave-one-out perplexity)
- results/capture/sites_<calibration>.npz + .json (``run_capture_sites``: every activation site, one pass)
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from avss.activations import (
    CaptureConfig,
    calibration_windows,
    capture_token_batches,
    save_capture,
    window_batches,
)
from avss.hf_io import load_pretrained
from avss.sites import save_sites
from avss.stats import HistSpec
from pipeutil.config import from_params
from pipeutil.device import resolve_device
from pipeutil.io import PipelineError, write_json

from .layer_ppl import leave_one_out_perplexity
from .sites import calibration_text, capture_sites

log = logging.getLogger(__name__)


def capture_config(p: dict) -> CaptureConfig:
    return CaptureConfig(site=p["site"], pooling=p["pooling"], batch_size=int(p["batch_size"]),
                         max_length=int(p["seq_len"]), thresholds=tuple(float(t) for t in p["exact_thresholds"]),
                         hist=from_params(HistSpec, p["hist"], "params.yaml: capture.hist"), progress=bool(p.get("progress", True)))


def _read_text(path) -> str:
    text = Path(path).read_text(encoding="utf-8") if Path(path).is_file() else ""
    if not text.strip():
        raise PipelineError(f"{path}: the calibration text is missing or empty")
    return text


def _windows(model_dir, text_path, p: dict, n: int):
    torch.manual_seed(int(p["seed"]))
    text = _read_text(text_path)  # fail on a bad text before loading the model
    model, tok = load_pretrained(model_dir, resolve_device(p["device"], "capture.device"), p["dtype"])
    windows = calibration_windows(text, tok, n, int(p["seq_len"]), int(p["seed"]),
                                  tuple(p["text_range"]))
    return model, windows  # windows: [n, seq_len]


def run_capture_stats(model_dir, text_path, p: dict, npz_path, json_path) -> dict:
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


def run_capture_ppl_drop(model_dir, text_path, p: dict, out_json) -> dict:
    """Leave-one-out perplexity on the first ``ppl_samples`` calibration windows -> ppl_drop.json."""
    t0 = time.perf_counter()
    model, windows = _windows(model_dir, text_path, p, int(p["n_samples"]))
    windows = windows[: int(p["ppl_samples"])]  # [n_ppl, T]
    res = leave_one_out_perplexity(model, windows, int(p["ppl_batch_size"]), bool(p.get("progress", True)))
    res.update(model_dir=str(model_dir))
    write_json(out_json, res)
    log.info("leave-one-out perplexity of %d layers in %.1f s", len(windows), time.perf_counter() - t0)
    return res




def run_capture_sites(model_dir, datasets_dir, name: str, p: dict, npz_path, json_path) -> dict:
    """Rule capture_sites: calibration ``name`` of ``p['calibrations']``, every site of ``p['sites']``
    in one hooked pass -> sites_<name>.npz + .json (what the AVSS variants and the calibration study read)."""
    if name not in p["calibrations"]:
        raise PipelineError(f"capture.calibrations: no calibration named {name!r} (have {sorted(p['calibrations'])})")
    t0 = time.perf_counter()
    text, text_range = calibration_text(name, p["calibrations"][name], datasets_dir)
    torch.manual_seed(int(p["seed"]))
    model, tok = load_pretrained(model_dir, resolve_device(p["device"], "capture.device"), p["dtype"])
    windows = calibration_windows(text, tok, int(p["n_samples"]), int(p["seq_len"]), int(p["seed"]), text_range)
    cfg = capture_config(p)
    n_batches = -(-windows.shape[0] // cfg.batch_size)
    res = capture_sites(model, window_batches(windows, cfg.batch_size), p["sites"], cfg, total=n_batches)
    extra = {"model_dir": str(model_dir), "calibration": {"name": name, **p["calibrations"][name]},
             "windows": {k: p[k] for k in ("n_samples", "seq_len", "seed", "device", "dtype")}}
    save_sites(res, npz_path, json_path, extra)  # no wall-clock field: same params -> same bytes
    log.info("captured sites %s of %d layers (%s) in %.1f s", list(res.sites), res.meta["n_layers"], name,
             time.perf_counter() - t0)
    return {**res.meta, **extra}
