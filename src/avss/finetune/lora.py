"""A minimal LoRA adapter for the Linear modules of chosen decoder layers.

``W x + (alpha / r) * B (A x)`` with A (r x in) random, B (out x r) zero, so training starts at
the base model exactly. ``merge_lora`` folds the update into W and restores plain ``nn.Linear``
modules, so the fine-tuned model saves as an ordinary Hugging Face folder.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from pipeutil.io import PipelineError


class LoRALinear(nn.Module):
    """Frozen base Linear plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, dtype=base.weight.dtype))  # [r, in]
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, dtype=base.weight.dtype))  # [out, r]
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [..., in] -> [..., out]
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def merged(self) -> nn.Linear:
        """The base Linear with the update added to its weight."""
        with torch.no_grad():
            self.base.weight += (self.lora_b @ self.lora_a) * self.scale  # [out, in]
        return self.base


def add_lora(layers: list[nn.Module], targets: list[str], rank: int, alpha: float) -> list[nn.Parameter]:
    """Wrap every Linear whose attribute name is in ``targets`` inside ``layers``; return the new parameters."""
    if rank < 1:
        raise PipelineError(f"finetune.lora_rank: {rank} must be >= 1")
    params: list[nn.Parameter] = []
    for layer in layers:
        for parent_name, parent in list(layer.named_modules()):
            for name, child in list(parent.named_children()):
                if name in targets and isinstance(child, nn.Linear):
                    wrapped = LoRALinear(child, rank, alpha)
                    setattr(parent, name, wrapped)
                    params += [wrapped.lora_a, wrapped.lora_b]
    if not params:
        raise PipelineError(f"finetune.lora_targets: none of {targets} names a Linear module in the selected layers")
    return params


def merge_lora(model: nn.Module) -> int:
    """Replace every LoRALinear by its merged Linear; return how many were merged."""
    n = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, name, child.merged())
                n += 1
    return n
