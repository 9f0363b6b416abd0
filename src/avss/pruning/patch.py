"""Training-free linear patch of a pruned model (after ReplaceMe, arXiv 2505.02819), folded into a kept weight.

For a maximal run of removed layers ``s..e`` (a *span*) the patch lives in the last kept layer before it,
``p = s - 1`` (the *fold layer*). In a Llama-type block the output of ``p`` is ``a_p + M_p`` (``a_p`` the
residual after attention, ``M_p = W_down z_p`` the MLP output), and the hidden state leaving the span is
``h = output of layer e``. The patch is the matrix ``T`` [H, H] minimising, over calibration tokens (rows),

    ||M_p T - (h - a_p)||^2 + lam ||T - I||^2        (ridge toward the identity: lam -> inf = plain pruning)

    T = (M^T M + lam I)^-1 (M^T Y + lam I),   Y = h - a_p,   lam = ridge x trace(M^T M) / H

and is folded exactly into the down projection: ``M_p T = z_p W_down^T T``, so ``W_down <- T^T W_down`` (and a
bias ``b <- b T``): the patched model is the pruned architecture, loads with ``from_pretrained`` alone and
runs at the pruned speed. ``M^T M``, ``M^T Y`` and ``tr(Y^T Y)`` are accumulated in float64 over calibration
batches (memory O(H^2) per span, independent of the token count); every span is fitted on the dense model's
activations in one pass (the dense hidden state is the target of each span, whatever the others do).

Derivation, defaults and edge cases: docs/healing.md.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from avss.hooks import find_decoder_layers
from pipeutil.io import PipelineError

MAX_CONDITION = 1e12  # condition number of M^T M + lam I beyond which the solve is refused


@dataclass(frozen=True)
class Span:
    fold: int  # the kept layer whose down projection absorbs the patch (original index)
    start: int  # first removed layer of the span
    end: int  # last removed layer of the span (inclusive)


@dataclass
class SpanStats:
    """Float64 sufficient statistics of one span's least-squares problem."""
    xtx: np.ndarray  # [H, H] sum over tokens of M^T M
    xty: np.ndarray  # [H, H] sum over tokens of M^T Y
    yty: float = 0.0  # sum over tokens of |Y|^2
    n_tokens: int = 0


@dataclass(frozen=True)
class Patch:
    span: Span
    t: np.ndarray  # [H, H] float64, the map applied to the MLP output of the fold layer
    ridge: float  # relative ridge (lam / mean diagonal of M^T M)
    n_tokens: int
    rel_error: float  # ||M T - Y||^2 / ||Y||^2 on the calibration tokens
    rel_error_pruned: float  # the same with T = I (the plain pruned model)

    def info(self) -> dict:
        return {"fold": self.span.fold, "start": self.span.start, "end": self.span.end, "ridge": self.ridge,
                "n_tokens": self.n_tokens, "rel_error": round(self.rel_error, 8),
                "rel_error_pruned": round(self.rel_error_pruned, 8)}


def removed_spans(removed: Sequence[int], n_layers: int, protect_first: bool = True,
                  protect_last: bool = True, where: str = "heal") -> list[Span]:
    """Maximal runs of consecutive removed layers, each with its fold layer; PipelineError when a run
    covers a protected first / last layer, or starts at layer 0 (no kept MLP before it)."""
    layers = sorted({int(i) for i in removed})
    if not layers:
        raise PipelineError(f"{where}: no layer is removed, there is nothing to patch")
    if layers[0] < 0 or layers[-1] >= n_layers or len(layers) >= n_layers:
        raise PipelineError(f"{where}: invalid removed layers {layers} for a model with {n_layers} layers")
    if protect_first and layers[0] == 0:
        raise PipelineError(f"{where}: removed layers {layers} cover the first layer, which is protected "
                            "(score.protect_first)")
    if protect_last and layers[-1] == n_layers - 1:
        raise PipelineError(f"{where}: removed layers {layers} cover the last layer, which is protected "
                            "(score.protect_last)")
    spans, start = [], layers[0]
    for prev, cur in zip(layers, [*layers[1:], None]):
        if cur != prev + 1:
            spans.append((start, prev))
            start = cur
    if spans[0][0] == 0:
        raise PipelineError(f"{where}: the removed span {spans[0][0]}..{spans[0][1]} starts at layer 0: no kept layer "
                            "before it whose MLP could absorb a linear patch (keep layer 0, score.protect_first)")
    return [Span(s - 1, s, e) for s, e in spans]


def _down(block: nn.Module, layer: int) -> nn.Linear:
    """The down projection of a block whose output is ``residual + down_proj(...)`` (Llama, Qwen2, Mistral, Gemma 1)."""
    down = getattr(getattr(block, "mlp", None), "down_proj", None)
    if not isinstance(down, nn.Linear) or hasattr(block, "post_feedforward_layernorm"):
        raise PipelineError(f"layer {layer} ({type(block).__name__}): the linear patch needs a block whose output is "
                            "the residual plus mlp.down_proj(...) (Llama, Qwen2, Mistral, Gemma 1); this family is "
                            "not supported")
    return down


@torch.inference_mode()
def accumulate_span_stats(model, batches: Iterable[torch.Tensor], spans: Sequence[Span]) -> dict[tuple, SpanStats]:
    """One pass of the dense model over token batches [B, T] (no padding); statistics per (fold, end)."""
    layers = find_decoder_layers(model).layers
    folds = sorted({s.fold for s in spans})
    downs = {f: _down(layers[f], f) for f in folds}  # resolve everything before attaching a hook
    h = int(downs[folds[0]].out_features) if folds else 0
    stats = {(s.fold, s.end): SpanStats(np.zeros((h, h)), np.zeros((h, h))) for s in spans}
    seen: dict = {}
    handles = []

    def on_down(f):
        def hook(module, args, output):
            seen[("m", f)] = output.detach().reshape(-1, output.shape[-1]).double()  # [N, H]
        return hook

    def on_block(i):
        def hook(module, args, kwargs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output  # [B, T, H]
            seen[("h", i)] = out.detach().reshape(-1, out.shape[-1]).double()  # [N, H]
        return hook

    try:
        for f in folds:
            handles.append(downs[f].register_forward_hook(on_down(f)))
        for i in sorted(set(folds) | {s.end for s in spans}):
            handles.append(layers[i].register_forward_hook(on_block(i), with_kwargs=True))
        for ids in batches:
            seen.clear()
            model(input_ids=ids, use_cache=False)
            for (f, e), st in stats.items():
                m = seen[("m", f)]  # [N, H] MLP output of the fold layer
                y = seen[("h", e)] - (seen[("h", f)] - m)  # [N, H] h_out - a_p
                st.xtx += (m.T @ m).cpu().numpy()
                st.xty += (m.T @ y).cpu().numpy()
                st.yty += float((y * y).sum())
                st.n_tokens += int(m.shape[0])
    finally:
        for hd in handles:
            hd.remove()
        seen.clear()
    return stats


def solve_patch(span: Span, st: SpanStats, ridge: float, where: str = "heal.patch.ridge") -> Patch:
    """Closed-form ridge-to-identity solution; PipelineError on empty or singular statistics."""
    if st.n_tokens == 0:
        raise PipelineError(f"linear patch of span {span.start}..{span.end}: no calibration tokens were seen")
    if ridge < 0:
        raise PipelineError(f"{where}: {ridge} is negative (expected >= 0)")
    h = st.xtx.shape[0]
    lam = ridge * float(np.trace(st.xtx)) / h
    a = st.xtx + lam * np.eye(h)  # [H, H]
    eig = np.linalg.eigvalsh(a)
    if not eig[-1] > 0 or eig[0] <= eig[-1] / MAX_CONDITION:
        raise PipelineError(f"linear patch of span {span.start}..{span.end}: the calibration statistics are singular "
                            f"(condition number {eig[-1] / max(eig[0], 1e-300):.3g} from {st.n_tokens} tokens, hidden "
                            f"size {h}); set {where} > 0 (e.g. 1e-4) or use more calibration tokens")
    t = np.linalg.solve(a, st.xty + lam * np.eye(h))  # [H, H]
    yy = max(st.yty, 1e-300)

    def err(m):  # ||M m - Y||^2 / ||Y||^2 from the sufficient statistics
        return float((st.yty - 2 * np.sum(m * st.xty) + np.sum(m * (st.xtx @ m))) / yy)
    return Patch(span, t, float(ridge), st.n_tokens, err(t), err(np.eye(h)))


def fit_patches(model, batches: Iterable[torch.Tensor], removed: Sequence[int], ridge: float,
                protect_first: bool = True, protect_last: bool = True) -> list[Patch]:
    """Spans of ``removed``, their statistics over ``batches`` on the dense ``model``, and their patches."""
    spans = removed_spans(removed, len(find_decoder_layers(model).layers), protect_first, protect_last)
    stats = accumulate_span_stats(model, batches, spans)
    return [solve_patch(s, stats[(s.fold, s.end)], ridge) for s in spans]


@contextlib.contextmanager
def patched(model, patches: Sequence[Patch]) -> Iterator:
    """Fold every patch into its fold layer's down projection (indices of the dense ``model``); the original
    weights are back on exit, also on error. Enter before pruning: the modules are shared with the pruned model."""
    layers = find_decoder_layers(model).layers
    saved = []
    try:
        with torch.no_grad():
            for p in patches:
                down = _down(layers[p.span.fold], p.span.fold)
                saved.append((down, down.weight.detach().clone(), None if down.bias is None else down.bias.detach().clone()))
                t = torch.from_numpy(p.t).to(down.weight.device)  # [H, H] float64
                down.weight.copy_((t.T @ down.weight.double()).to(down.weight.dtype))  # [H, I] <- T^T W
                if down.bias is not None:
                    down.bias.copy_((down.bias.double() @ t).to(down.bias.dtype))  # [H] <- b T
        yield model
    finally:
        with torch.no_grad():
            for down, w, b in reversed(saved):
                down.weight.copy_(w)
                if b is not None:
                    down.bias.copy_(b)


def patch_record(patches: Sequence[Patch]) -> list[dict]:
    return [p.info() for p in patches]


def check_calibration(n_samples: int, seq_len: int, where: str = "heal.patch") -> None:
    if int(n_samples) < 1 or int(seq_len) < 1:
        raise PipelineError(f"{where}: the calibration budget n_samples x seq_len = {n_samples} x {seq_len} is empty "
                            "(expected >= 1 token)")
