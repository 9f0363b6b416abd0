"""Generic decoder-block discovery and context-managed forward hooks.

Interface (relied on by capture, prune and the EAVSS branch):

- ``find_decoder_layers(model) -> DecoderLayers`` locates the ``nn.ModuleList`` of decoder
  blocks of a Hugging Face causal LM (Llama/SmolLM, Qwen2, Mistral, Gemma 1-3, Phi-3,
  GPT-2, OPT, GPT-NeoX/Pythia, ...). A model whose blocks cannot be found raises
  ``PipelineError`` listing the supported families.
- ``block_hooks(model, callback, site)`` is a context manager that calls
  ``callback(BlockIO)`` once per block per forward pass, and removes every hook it attached
  on exit, including when the forward pass or the callback raises.

``BlockIO.inp`` is the block input (residual stream before the block) [B, T, H],
``BlockIO.out`` the block output [B, T, H] and ``BlockIO.mlp_act`` (site ``mlp_act`` only)
the input of the MLP down projection [B, T, I] (the activation after the non-linearity /
gating). Tensors are the live activations: read them, never modify them.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from pipeutil.io import PipelineError

# attribute path of the block list -> families that use it
LAYER_PATHS: dict[str, str] = {
    "model.layers": "Llama/SmolLM, Qwen2, Mistral, Gemma 1-2, Phi-3, Granite, OLMo",
    "model.language_model.layers": "Gemma 3 / multimodal wrappers",
    "transformer.h": "GPT-2, GPT-J, Bloom, Falcon",
    "model.decoder.layers": "OPT",
    "gpt_neox.layers": "GPT-NeoX, Pythia",
    "transformer.layers": "ChatGLM-style",
}
# relative path of the MLP down projection inside a block (its input is the MLP activation)
MLP_DOWN_PATHS = ("mlp.down_proj", "mlp.c_proj", "fc2", "mlp.dense_4h_to_h", "mlp.fc_out")
SITES = ("block_output", "block_delta", "mlp_act")


@dataclass(frozen=True)
class DecoderLayers:
    path: str  # attribute path inside the model, e.g. "model.layers"
    layers: nn.ModuleList


@dataclass
class BlockIO:
    layer: int  # index of the block in the (current) module list
    inp: torch.Tensor  # [B, T, H] residual stream entering the block
    out: torch.Tensor  # [B, T, H] residual stream leaving the block
    mlp_act: torch.Tensor | None = None  # [B, T, I] input of the MLP down projection


def _get_path(root: nn.Module, path: str):
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def supported_families() -> str:
    return "; ".join(f"{fam} ({path})" for path, fam in LAYER_PATHS.items())


def find_decoder_layers(model: nn.Module) -> DecoderLayers:
    """Return the decoder block list of ``model``; raise PipelineError naming the supported families."""
    n_cfg = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for path in LAYER_PATHS:
        layers = _get_path(model, path)
        if isinstance(layers, nn.ModuleList) and len(layers) > 0 and (n_cfg is None or len(layers) == n_cfg):
            return DecoderLayers(path, layers)
    raise PipelineError(
        f"cannot find the decoder layers of {type(model).__name__}: none of the attribute paths "
        f"{list(LAYER_PATHS)} is a ModuleList of config.num_hidden_layers={n_cfg} blocks. "
        f"Supported families: {supported_families()}")


def find_mlp_down(block: nn.Module, layer: int) -> nn.Module:
    """The module whose input is the MLP activation of ``block`` (down / output projection)."""
    for path in MLP_DOWN_PATHS:
        mod = _get_path(block, path)
        if isinstance(mod, nn.Module):
            return mod
    raise PipelineError(f"layer {layer} ({type(block).__name__}): no MLP down projection found at "
                        f"{list(MLP_DOWN_PATHS)}; use capture.site 'block_output' or 'block_delta'")


def _first_tensor(x) -> torch.Tensor:
    return x[0] if isinstance(x, (tuple, list)) else x


@contextlib.contextmanager
def block_hooks(model: nn.Module, callback: Callable[[BlockIO], None],
                site: str = "block_output") -> Iterator[DecoderLayers]:
    """Attach forward hooks on every decoder block; always detach them on exit."""
    if site not in SITES:
        raise PipelineError(f"capture.site: {site!r} is not one of {list(SITES)}")
    dec = find_decoder_layers(model)
    # resolve every module before attaching anything, so a failure attaches nothing
    downs = [find_mlp_down(b, i) for i, b in enumerate(dec.layers)] if site == "mlp_act" else []
    stash: dict[int, torch.Tensor] = {}
    handles = []
    try:
        for i, block in enumerate(dec.layers):
            handles.append(block.register_forward_hook(_block_hook(i, callback, stash), with_kwargs=True))
        for i, down in enumerate(downs):
            handles.append(down.register_forward_pre_hook(_stash_hook(i, stash)))
        yield dec
    finally:
        for h in handles:
            h.remove()
        stash.clear()


def _block_hook(i: int, callback, stash):
    def hook(module, args, kwargs, output):
        inp = args[0] if args else kwargs["hidden_states"]  # [B, T, H]
        out = _first_tensor(output)  # [B, T, H]
        act = stash.pop(i, None)
        if act is not None and act.dim() == 2:  # OPT flattens tokens inside its MLP: [B*T, I]
            act = act.view(out.shape[0], out.shape[1], -1)  # [B, T, I]
        callback(BlockIO(layer=i, inp=inp, out=out, mlp_act=act))
    return hook


def _stash_hook(i: int, stash):
    def hook(module, args):
        stash[i] = args[0]  # [B, T, I]
    return hook


def count_hooks(model: nn.Module) -> int:
    """Number of forward (pre-)hooks attached anywhere in ``model`` (0 after block_hooks exits)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
