"""A saved Hugging Face folder as the evaluation harness's backend (avss.evaluation answers requests; it
never loads models itself)."""
from __future__ import annotations

import torch

from avss.evaluation.backends import HFBackend
from avss.hf_io import load_local
from pipeutil.device import resolve_device


def load_hf_backend(folder: str, device: str = "auto", dtype: str = "float32", **kwargs) -> HFBackend:
    """Load a saved Hugging Face folder (model + tokenizer) into an :class:`HFBackend`."""
    device = resolve_device(device, "device")
    model, tok = load_local(folder, dtype=getattr(torch, dtype))
    return HFBackend(model.to(device), tok, **kwargs)
