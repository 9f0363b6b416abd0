"""Capture of every activation site in one pass, for the AVSS variants, on a named calibration text.

One hooked forward pass per batch feeds a ``LayerAccumulator`` per (site, layer) for every site of
``sites`` (block_output, block_delta, mlp_act: ``avss.hooks.SITES``), the angular distances between
residual-stream boundaries (as ``avss.activations``), and per layer the mean square of the block input
per element, ``E[x_in^2]`` (the scale a scale-free variance divides by). So every AVSS definition of
the study is computed from the same tokens.

Calibration texts (``calibration_text``): ``{dataset: wiki, text_range: [lo, hi]}`` is a character
range of wiki.txt (as the capture phase); ``{dataset: sciq, pool: [lo, hi]}`` joins the support
paragraphs of that fraction of the SciQ file (the evaluation draws its SciQ items from the other part).

Files (written and read by ``avss.sites``, the format the score phase reads): ``<name>.npz`` (per site the stacked accumulator state under ``<site>/<key>``, ``angular``
[L + 1, L + 1], ``in_meansq`` [L]) and ``<name>.json`` (metadata, per-site per-layer summary).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from avss.activations import (
    CaptureConfig,
    LayerAccumulator,
    _cfg_json,
    _pool,
    _real,
    hooked_batch,
)
from avss.hooks import SITES, BlockIO, block_hooks
from avss.records import dataset_path
from avss.sites import SitesCapture, finish_sites
from pipeutil.io import PipelineError, read_jsonl


class _Collector:
    """Hook callback: every site's accumulator, the input scale and the last-token boundaries."""

    def __init__(self, cfg: CaptureConfig, sites: tuple[str, ...]):
        self.cfg, self.sites = cfg, sites
        self.acc: dict[str, dict[int, LayerAccumulator]] = {s: {} for s in sites}
        self.in_sq: dict[int, float] = {}
        self.in_n: dict[int, int] = {}
        self.mask = self.last_idx = None
        self.full, self.bounds = False, {}

    def __call__(self, io: BlockIO) -> None:
        inp, out = _real(io.inp, self.mask, self.full), _real(io.out, self.mask, self.full)  # [N, H]
        for site in self.sites:
            x = {"block_output": io.out, "block_delta": None, "mlp_act": io.mlp_act}[site]
            x = io.out - io.inp if site == "block_delta" else x  # [B, T, D]
            accs = self.acc[site]
            if io.layer not in accs:
                accs[io.layer] = LayerAccumulator(io.layer, x.shape[-1], self.cfg.hist, self.cfg.thresholds, x.device)
            accs[io.layer].add(_pool(x, self.mask, self.last_idx, self.cfg.pooling, self.full), inp, out)
        sq = inp.float().square().sum().item()
        self.in_sq[io.layer] = self.in_sq.get(io.layer, 0.0) + sq
        self.in_n[io.layer] = self.in_n.get(io.layer, 0) + inp.numel()
        rows = torch.arange(io.out.shape[0], device=io.out.device)
        if io.layer == 0:
            self.bounds[0] = io.inp[rows, self.last_idx].float()  # [B, H]
        self.bounds[io.layer + 1] = io.out[rows, self.last_idx].float()  # [B, H]


def capture_sites(model, batches, sites, cfg: CaptureConfig, total: int | None = None) -> SitesCapture:
    """One hooked pass over ``batches`` of (ids [B, T], mask [B, T]) for every site of ``sites``."""
    sites = tuple(sites)
    bad = [s for s in sites if s not in SITES]
    if bad or not sites:
        raise PipelineError(f"capture.sites: {bad or 'empty'} not in {list(SITES)}")
    device = next(model.parameters()).device
    col, ang, n_seq, n_tok = _Collector(cfg, sites), None, 0, 0
    hook_site = "mlp_act" if "mlp_act" in sites else "block_output"  # mlp_act also attaches the down-proj hook
    with torch.inference_mode(), block_hooks(model, col, hook_site) as dec:
        for ids, mask in tqdm(batches, total=total, desc="capture sites", disable=not cfg.progress):
            ids, mask = ids.to(device), mask.to(device).bool()  # [B, T]
            upd = hooked_batch(model, col, ids, mask)
            ang = upd if ang is None else ang + upd
            n_seq, n_tok = n_seq + ids.shape[0], n_tok + int(mask.sum())
    if n_seq == 0:
        raise PipelineError("capture_sites: the calibration data is empty")
    n_layers = len(dec.layers)
    states = {s: [col.acc[s][i].state() for i in range(n_layers)] for s in sites}
    in_meansq = np.array([col.in_sq[i] / col.in_n[i] for i in range(n_layers)], dtype=np.float64)
    meta = {"n_sequences": n_seq, "n_tokens": n_tok, "n_layers": n_layers, "layer_path": dec.path,
            "model_class": type(model).__name__, "sites": list(sites), "config": _cfg_json(cfg)}
    return finish_sites(states, (ang / n_seq).numpy(), in_meansq, meta)


def calibration_text(name: str, spec: dict, datasets_dir) -> tuple[str, tuple[float, float]]:
    """(text, character range) of calibration ``name``: wiki text, or SciQ support paragraphs of a pool."""
    where = f"capture.calibrations.{name}"
    ds = spec.get("dataset")
    path = Path(dataset_path(ds, str(datasets_dir))) if ds in ("wiki", "sciq") else None
    if path is None:
        raise PipelineError(f"{where}.dataset: {ds!r} is not one of ['wiki', 'sciq']")
    if not path.is_file():
        raise PipelineError(f"{where}: {path} not found (run the download phase)")
    if ds == "wiki":
        return path.read_text(encoding="utf-8"), tuple(spec.get("text_range", (0.0, 0.5)))
    lo, hi = spec.get("pool", (0.5, 1.0))
    rows = read_jsonl(path)
    part = rows[round(lo * len(rows)):round(hi * len(rows))]
    text = "\n".join(r["context"].strip() for r in part if r.get("context", "").strip())
    if not text:
        raise PipelineError(f"{where}: no SciQ support paragraph in pool {[lo, hi]} of {path}")
    return text, (0.0, 1.0)
