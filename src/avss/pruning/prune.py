"""Decoder-layer removal: in memory (temporary or permanent) and saved as a Hugging Face folder.

Interface for the evaluation phase (``evaluate_pruning``) -- decision on disk use:
  Pruned models are NOT saved for every method x ratio (135M float32 = 540 MB per folder,
  about 7 GB for 6 methods x 3 ratios; 7B models make it impossible). The evaluation loads
  the dense model ONCE with ``load_model(folder)`` and, for every method and ratio, reads the
  layer list from results/score/scores.json (``scores[method]["selected"][str(ratio)]``) and
  evaluates inside

      with layers_removed(model, layers):
          ...  # the model is now the pruned model; KV-cache generation works

  which restores the dense model on exit (also on error). The prune phase saves only the
  folders listed in params.yaml ``prune.save`` (default: AVSS at 25 %) under
  results/prune/<method>/<ratio>/, in the dtype of the source model, after checking that the
  saved folder loads with plain ``from_pretrained``, reproduces the in-memory pruned logits and
  generates the same greedy tokens with and without the KV cache.

- ``prune_layers(model, layers)`` removes the layers in place and returns the model.
- ``layers_removed(model, layers)`` context manager: pruned inside, dense again on exit.
- Both update together: the block ``nn.ModuleList``, ``config.num_hidden_layers``, per-layer
  config lists (``layer_types``) and every ``layer_idx`` attribute (KV-cache slot).
- Removing no layer is a no-op; removing every layer, an index out of range or a duplicate
  raises ``PipelineError``.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from avss.hooks import find_decoder_layers
from pipeutil.io import PipelineError, atomic_path

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


def load_model(folder, device: str = "cpu", dtype: str = "auto"):
    """Load a causal LM and its tokenizer from a local Hugging Face folder (never the hub)."""
    from avss.hf_io import load_local

    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model, tok = load_local(folder, dtype=torch_dtype)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.to(device).eval(), tok


@torch.inference_mode()
def greedy(model, ids: torch.Tensor, new_tokens: int, use_cache: bool) -> torch.Tensor:
    """Greedy continuation of ids [1, T] -> [1, T + new_tokens] (no sampling, no stop token)."""
    eos = getattr(model.config, "eos_token_id", None)
    pad = (eos[0] if isinstance(eos, (list, tuple)) else eos) or 0
    return model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                          min_new_tokens=new_tokens, do_sample=False, use_cache=use_cache, pad_token_id=pad)


@torch.inference_mode()
def verify_pruned(folder, reference, ids: torch.Tensor, new_tokens: int = 8) -> dict:
    """Load ``folder`` with plain from_pretrained; compare logits with ``reference`` and check KV cache."""
    loaded, _ = load_model(folder, device=str(ids.device), dtype="auto")
    ref = reference(ids).logits.float()  # [1, T, V]
    got = loaded(ids).logits.float()  # [1, T, V]
    max_diff = float((ref - got).abs().max())
    if not torch.allclose(ref, got, atol=1e-4, rtol=1e-3):
        raise PipelineError(f"{folder}: saved pruned model differs from the in-memory one (max |dlogit| {max_diff:.3g})")
    cached, plain = greedy(loaded, ids, new_tokens, True), greedy(loaded, ids, new_tokens, False)
    if not torch.equal(cached, plain):
        raise PipelineError(f"{folder}: generation with the KV cache differs from generation without it")
    return {"max_abs_logit_diff": max_diff, "kv_cache_generation": "ok",
            "num_hidden_layers": loaded.config.num_hidden_layers}


def save_pruned(model, tokenizer, layers: Sequence[int], out_dir, info: dict, check_ids: torch.Tensor) -> dict:
    """Prune a copy-free dense ``model`` temporarily, save it to ``out_dir`` atomically, verify the folder."""
    if getattr(model.config, "scale_attn_by_inverse_layer_idx", False):
        raise PipelineError("GPT-2 models with scale_attn_by_inverse_layer_idx cannot be saved pruned: "
                            "the attention scale depends on the layer index")
    with layers_removed(model, layers) as pruned, atomic_path(out_dir) as tmp:
        pruned.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        check = verify_pruned(tmp, pruned, check_ids)
        record = {**info, "removed_layers": sorted(int(i) for i in layers),
                  "n_layers_before": len(find_decoder_layers(model).layers) + len(layers),
                  "n_layers_after": pruned.config.num_hidden_layers, "check": check}
        (tmp / "pruning.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
