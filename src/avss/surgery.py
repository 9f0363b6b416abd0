"""Decoder-layer removal in memory: permanent (``prune_layers``) or for the time of a ``with`` block
(``layers_removed``: the dense model is back on exit, also on error).

Used by the capture phase (leave-one-layer-out perplexity), the prune phase and the evaluate_pruning sweep.
``blocks_replayed`` stands the first blocks in by replays of outputs recorded in a dense pass on the same
input (``record_block_outputs``): removing layer l then costs layers l+1..L-1 only (the one-shot
ppl_drop capture and the measured damage of layer_damage).
Both update together: the block ``nn.ModuleList``, ``config.num_hidden_layers``, per-layer config lists
(``layer_types``) and every ``layer_idx`` attribute (KV-cache slot). Removing no layer is a no-op; removing
every layer, an index out of range or a duplicate raises ``PipelineError``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from torch import nn

from avss.hooks import find_decoder_layers
from pipeutil.io import PipelineError

PER_LAYER_CONFIG_KEYS = ("layer_types", "no_rope_layers")  # config lists indexed by layer


def _text_config(model):
    cfg = model.config
    return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg


def kept_layers(n_layers: int, remove: Sequence[int]) -> list[int]:
    """Indices kept when ``remove`` is dropped from ``n_layers`` layers (validated)."""
    remove = [int(i) for i in remove]
    bad = [i for i in remove if not 0 <= i < n_layers]
    if bad:
        raise PipelineError(f"layers to remove {bad} are outside 0..{n_layers - 1}")
    if len(set(remove)) != len(remove):
        raise PipelineError(f"layers to remove contain duplicates: {sorted(remove)}")
    if len(remove) >= n_layers:
        raise PipelineError(f"cannot remove all {n_layers} decoder layers (at least one must stay)")
    return [i for i in range(n_layers) if i not in set(remove)]


def _snapshot(model) -> dict:
    dec = find_decoder_layers(model)
    cfg = _text_config(model)
    return {"path": dec.path, "layers": dec.layers, "n": cfg.num_hidden_layers,
            "lists": {k: list(getattr(cfg, k)) for k in PER_LAYER_CONFIG_KEYS
                      if isinstance(getattr(cfg, k, None), (list, tuple))},
            "idx": [(m, m.layer_idx) for m in model.modules() if isinstance(getattr(m, "layer_idx", None), int)]}


def _set_layers(model, path: str, layers: nn.ModuleList) -> None:
    parent_path, name = path.rsplit(".", 1)
    parent = model
    for part in parent_path.split("."):
        parent = getattr(parent, part)
    setattr(parent, name, layers)


def prune_layers(model, layers: Sequence[int]):
    """Remove decoder ``layers`` (original indices) in place; returns ``model``."""
    snap = _snapshot(model)
    n = len(snap["layers"])
    keep = kept_layers(n, layers)
    if len(keep) == n:
        return model
    cfg = _text_config(model)
    _set_layers(model, snap["path"], nn.ModuleList([snap["layers"][i] for i in keep]))
    cfg.num_hidden_layers = len(keep)
    for key, values in snap["lists"].items():
        if len(values) == n:
            setattr(cfg, key, [values[i] for i in keep])
    for new, old in enumerate(keep):
        for m in snap["layers"][old].modules():
            if isinstance(getattr(m, "layer_idx", None), int):
                m.layer_idx = new
    assert len(find_decoder_layers(model).layers) == cfg.num_hidden_layers == len(keep)
    return model


@contextlib.contextmanager
def layers_removed(model, layers: Sequence[int]) -> Iterator:
    """Temporarily remove ``layers``; the dense model is restored on exit, also on error."""
    snap = _snapshot(model)
    try:
        yield prune_layers(model, layers)
    finally:
        cfg = _text_config(model)
        _set_layers(model, snap["path"], snap["layers"])
        cfg.num_hidden_layers = snap["n"]
        for key, values in snap["lists"].items():
            setattr(cfg, key, values)
        for m, idx in snap["idx"]:
            m.layer_idx = idx


class _Replay(nn.Module):
    """Stands in for a decoder block: returns the output the real block produced in the dense pass."""

    def __init__(self, output):
        super().__init__()
        self.output = output

    def forward(self, *args, **kwargs):
        return self.output


@contextlib.contextmanager
def blocks_replayed(model, outputs: Sequence) -> Iterator:
    """Replace the first len(outputs) blocks of the current block list by replays; restored on exit."""
    layers = find_decoder_layers(model).layers
    real = [layers[i] for i in range(len(outputs))]
    try:
        for i, out in enumerate(outputs):
            layers[i] = _Replay(out)
        yield model
    finally:
        for i, block in enumerate(real):
            layers[i] = block


@contextlib.contextmanager
def record_block_outputs(model, into: dict) -> Iterator:
    """Record ``into[k]`` = the output of block k for every forward pass inside the block (last one wins)."""
    blocks = find_decoder_layers(model).layers
    handles = [b.register_forward_hook(lambda m, a, o, k=k: into.__setitem__(k, o)) for k, b in enumerate(blocks)]
    try:
        yield model
    finally:
        for h in handles:
            h.remove()
