"""The torch device of a ``device`` parameter (capture, prune, evaluate_pruning, train_detector, detect, ...)."""
from __future__ import annotations

import torch

from .io import PipelineError


def resolve_device(setting: str, where: str) -> str:
    """``auto`` -> "cuda" when torch sees a GPU, else "cpu"; ``cuda`` / ``cuda:N`` without a GPU raises
    PipelineError naming the parameter ``where`` (e.g. "capture.device"); anything else is returned as is."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(setting).startswith("cuda") and not torch.cuda.is_available():
        raise PipelineError(f"{where}: {setting!r} requested but torch sees no GPU")
    return setting
