"""DoLa: decoding by contrasting layers (Chuang et al. 2023), written for this project.

transformers 5 moved DoLa out of ``generate`` into a Hub repository that needs remote code, which this
pipeline never runs, so the method is implemented here as a model wrapper that the evaluation backend
(:class:`avss.evaluation.backends.HFBackend`) calls like any causal LM: every scoring and greedy
generation path of the harness then uses the contrasted distribution unchanged.

At every position (shapes per position; V = vocabulary):

    q_N   = log_softmax(model logits)                               final ("mature") layer   [V]
    q_j   = log_softmax(lm_head(final_norm(h_j)))                   early exit of block j    [V]
    M     = argmax_{j in bucket} JSD(exp q_N || exp q_j)            premature layer, chosen per position
    V_ok  = {x : q_N(x) >= log(alpha) + max_x q_N}                  adaptive plausibility constraint
    score = log_softmax over V_ok of (q_N - q_M);  IMPLAUSIBLE outside V_ok

``h_j`` is the raw output of decoder block j (0-based, hooked on the block itself). The bucket holds
blocks 0 .. L-2 only (block L-1 is the mature layer). With a premature distribution that is uniform, the
score is q_N renormalised over V_ok: the final layer's ranking within the plausible set. Greedy decoding
takes the argmax of the score; a continuation's log-probability is the sum of its tokens' scores (the
backend's log_softmax of the returned scores leaves them unchanged up to the IMPLAUSIBLE tail mass).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from types import SimpleNamespace

import torch
from torch import nn

from avss.evaluation.backends import HFBackend
from avss.hooks import _get_path, find_decoder_layers
from pipeutil.io import PipelineError

IMPLAUSIBLE = -1000.0  # score of tokens outside the plausible set (finite, so sums and softmaxes stay defined)
FINAL_NORM_PATHS = ("model.norm", "model.language_model.norm", "transformer.ln_f",
                    "model.decoder.final_layer_norm", "gpt_neox.final_layer_norm")
NAMED_BUCKETS = ("low", "high")


def named_bucket(name: str, n_layers: int) -> list[int]:
    """'low' = blocks [0, L/2), 'high' = [L/2, L-1); every second block when L > 40 (as the paper)."""
    half, step = n_layers // 2, 2 if n_layers > 40 else 1
    layers = list(range(0, half, step)) if name == "low" else list(range(half, n_layers - 1, step))
    return layers


def resolve_bucket(bucket, n_layers: int, key: str, selected: Sequence[int] | None = None) -> list[int]:
    """Candidate premature blocks of ``bucket`` ('low' | 'high' | 'eavss' | list of block indices).

    'eavss' takes ``selected`` (the fold's EAVSS layers) without the last block. Any layer outside
    0 .. L-2 or an empty bucket is a PipelineError naming ``key``.
    """
    if bucket in NAMED_BUCKETS:
        layers = named_bucket(bucket, n_layers)
    elif bucket == "eavss":
        if selected is None:
            raise PipelineError(f"{key}: bucket 'eavss' needs the fold's EAVSS-selected layers (results/eavss/scores.json)")
        layers = sorted({int(x) for x in selected} - {n_layers - 1})
    elif isinstance(bucket, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in bucket):
        bad = [x for x in bucket if not 0 <= x <= n_layers - 2]
        if bad:
            raise PipelineError(f"{key}: layer(s) {bad} not in 0..{n_layers - 2} (the model has {n_layers} "
                                f"decoder layers; the last one, {n_layers - 1}, is the mature layer)")
        layers = sorted(set(bucket))
    else:
        raise PipelineError(f"{key}: {bucket!r} is not 'low', 'high', 'eavss' or a list of layer indices")
    if not layers:
        raise PipelineError(f"{key}: bucket {bucket!r} has no candidate layer below the last one ({n_layers - 1})")
    return layers


def jsd(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (nats) of two log-distributions over the last axis: [..., V] -> [...]."""
    logm = torch.logaddexp(logp, logq) - math.log(2.0)  # [..., V]
    kl_p = (logp.exp() * (logp - logm)).sum(-1)  # [...]
    kl_q = (logq.exp() * (logq - logm)).sum(-1)  # [...]
    return 0.5 * (kl_p + kl_q)


def contrast(final_logits: torch.Tensor, premature_logits: Sequence[torch.Tensor], alpha: float = 0.1):
    """DoLa scores [..., V] and the index (into ``premature_logits``) of the chosen layer [...].

    final_logits: [..., V]; premature_logits: one [..., V] tensor per candidate layer (or a callable-free
    list); the layer of largest JSD from the final distribution is contrasted at each position.
    """
    if not 0.0 < alpha <= 1.0:
        raise PipelineError(f"dola.alpha: {alpha} must lie in (0, 1]")
    if not premature_logits:
        raise PipelineError("dola: the candidate bucket is empty")
    lq_n = torch.log_softmax(final_logits.float(), -1)  # [..., V]
    best_d = best = chosen = None
    for j, logits in enumerate(premature_logits):
        lq_j = torch.log_softmax(logits.float(), -1)  # [..., V]
        d = jsd(lq_n, lq_j)  # [...]
        if best is None:
            best_d, best, chosen = d, lq_j, torch.zeros_like(d, dtype=torch.long)
        else:
            take = d > best_d  # [...]; ties keep the lower layer
            best_d = torch.where(take, d, best_d)
            best = torch.where(take[..., None], lq_j, best)
            chosen = torch.where(take, torch.full_like(chosen, j), chosen)
    ok = lq_n >= math.log(alpha) + lq_n.max(-1, keepdim=True).values  # [..., V] plausible tokens
    diff = (lq_n - best).masked_fill(~ok, -math.inf)  # [..., V]
    score = torch.log_softmax(diff, -1).masked_fill(~ok, IMPLAUSIBLE)  # [..., V]
    return score, chosen


class DolaLM(nn.Module):
    """A causal LM whose logits are DoLa scores over the candidate blocks ``layers`` (see module doc).

    Accepts the keyword arguments HFBackend passes (input_ids, attention_mask, position_ids,
    past_key_values, use_cache, logits_to_keep) and returns an object with ``logits`` and
    ``past_key_values``. ``chosen`` counts how often each candidate block was the premature layer.
    """

    def __init__(self, model: nn.Module, layers: Sequence[int], alpha: float = 0.1):
        super().__init__()
        self.base = model
        self.config = model.config
        self.blocks = find_decoder_layers(model).layers
        n = len(self.blocks)
        self.layers = resolve_bucket(list(layers), n, "dola.layers")
        self.alpha = float(alpha)
        if not 0.0 < self.alpha <= 1.0:
            raise PipelineError(f"dola.alpha: {alpha} must lie in (0, 1]")
        self.norm = next((m for p in FINAL_NORM_PATHS if isinstance(m := _get_path(model, p), nn.Module)), None)
        self.head = model.get_output_embeddings()
        if self.norm is None or self.head is None:
            raise PipelineError(f"dola: {type(model).__name__} has no final norm at {list(FINAL_NORM_PATHS)} "
                                "or no output embedding (LM head)")
        self.chosen = [0] * len(self.layers)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                use_cache=False, logits_to_keep: int = 0):
        keep = int(logits_to_keep) or input_ids.shape[1]
        hidden: dict[int, torch.Tensor] = {}

        def grab(j):
            def hook(module, args, output):
                out = output[0] if isinstance(output, (tuple, list)) else output  # [B, T, H]
                hidden[j] = out[:, -keep:]  # [B, K, H]
            return hook

        handles = [self.blocks[j].register_forward_hook(grab(j)) for j in self.layers]
        try:
            out = self.base(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            past_key_values=past_key_values, use_cache=use_cache, logits_to_keep=keep)
        finally:
            for h in handles:
                h.remove()
        final = out.logits[:, -keep:]  # [B, K, V]
        early = (self.head(self.norm(hidden[j])) for j in self.layers)  # each [B, K, V], one at a time
        score, chosen = contrast(final, _Lazy(early, len(self.layers)), self.alpha)
        for j, c in zip(*torch.unique(chosen, return_counts=True)):
            self.chosen[int(j)] += int(c)
        return SimpleNamespace(logits=score.to(final.dtype), past_key_values=out.past_key_values)


class _Lazy:
    """A sized iterable: ``contrast`` checks it is non-empty and walks it once (one [B, K, V] at a time)."""

    def __init__(self, it, n: int):
        self.it, self.n = it, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(self.it)


def dola_backend(model: nn.Module, tokenizer, layers: Sequence[int], alpha: float = 0.1, **kwargs) -> HFBackend:
    """The evaluation backend of ``model`` decoding / scoring with DoLa over the blocks ``layers``."""
    return HFBackend(DolaLM(model, layers, alpha), tokenizer, **kwargs)
