"""Decoder-layer removal: in memory (temporary or permanent) and saved as a Hugging Face folder.

Interface for the evaluation phase (``evaluate_pruning``) -- decision on disk use:
  Pruned models are NOT saved for every method x ratio (135M float32 = 540 MB per folder,
  about 7 GB for 6 methods x 3 ratios; 7B models make it impossible). The evaluation loads
  the dense model ONCE with ``avss.hf_io.load_pretrained(folder)`` and, for every method and ratio, reads the
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

import json
from collections.abc import Sequence

import torch

from avss.hf_io import load_pretrained
from avss.hooks import find_decoder_layers
from avss.surgery import layers_removed
from pipeutil.io import PipelineError, atomic_path


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
    loaded, _ = load_pretrained(folder, device=str(ids.device), dtype="auto")
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
