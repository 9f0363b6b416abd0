"""Perplexity of the model with each decoder layer removed alone (the one-shot ``ppl_drop`` baseline).

``leave_one_out_perplexity(model, windows, batch_size)`` -> ``{"dense": ppl, "without": [ppl_0, ...]}``:
token-level perplexity exp(mean next-token NLL) over the calibration windows [N, T] (no
padding), first of the dense model, then with layer l removed (``avss.prune.layers_removed``),
for every l. Layers before l compute exactly what they computed in the dense pass, so their
outputs are recorded once per batch and replayed (``avss.surgery.blocks_replayed``): removing layer l costs only
layers l+1..L-1 and the LM head, about 40 % less than L full passes.
The score phase turns it into ``ppl_without[l] - ppl_dense`` (pure function). The general
evaluation perplexity lives in ``avss.evaluation``; this helper only serves the baseline.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from avss.hooks import find_decoder_layers
from avss.surgery import blocks_replayed, layers_removed, record_block_outputs
from pipeutil.io import PipelineError


def _nll(model, ids: torch.Tensor) -> float:
    logits = model(input_ids=ids, use_cache=False).logits.float()  # [B, T, V]
    return float(F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten(), reduction="sum"))


def _check(windows: torch.Tensor) -> None:
    if windows.numel() == 0 or windows.shape[1] < 2:
        raise PipelineError("perplexity: need at least one window of two or more tokens")


@torch.inference_mode()
def window_perplexity(model, windows: torch.Tensor, batch_size: int) -> float:
    """exp(mean NLL of tokens 1..T-1 given their prefix) over windows [N, T]."""
    _check(windows)
    device = next(model.parameters()).device
    nll = sum(_nll(model, windows[i:i + batch_size].to(device)) for i in range(0, windows.shape[0], batch_size))
    return math.exp(nll / (windows.shape[0] * (windows.shape[1] - 1)))


@torch.inference_mode()
def leave_one_out_perplexity(model, windows: torch.Tensor, batch_size: int, progress: bool = True) -> dict:
    """Dense perplexity and the perplexity with each layer removed alone."""
    _check(windows)
    blocks = find_decoder_layers(model).layers
    n_layers, device = len(blocks), next(model.parameters()).device
    dense, without = 0.0, [0.0] * n_layers
    bar = tqdm(total=n_layers * math.ceil(windows.shape[0] / batch_size), desc="ppl without layer",
               disable=not progress)
    for i in range(0, windows.shape[0], batch_size):
        ids = windows[i:i + batch_size].to(device)  # [B, T]
        outs: dict[int, object] = {}
        with record_block_outputs(model, outs):
            dense += _nll(model, ids)
        for layer in range(n_layers):
            with layers_removed(model, [layer]), blocks_replayed(model, [outs[k] for k in range(layer)]):
                without[layer] += _nll(model, ids)
            bar.update()
    bar.close()
    n_pred = windows.shape[0] * (windows.shape[1] - 1)
    dense_ppl, ppl = math.exp(dense / n_pred), [math.exp(w / n_pred) for w in without]
    bad = [i for i, p in enumerate(ppl) if not math.isfinite(p)]
    if not math.isfinite(dense_ppl) or bad:
        raise PipelineError(f"perplexity is NaN or inf (dense {dense_ppl}, without layer(s) {bad})")
    return {"dense": dense_ppl, "without": ppl, "n_windows": int(windows.shape[0]),
            "tokens_per_window": int(windows.shape[1])}
