"""Every Hugging Face model / tokenizer load of the LLM branch: no code from the folder, errors that name the file.

Each load passes ``trust_remote_code=False``. A local folder is checked before transformers sees it:
- ``config.json`` (and ``tokenizer_config.json`` when present) are JSON objects without ``auto_map``:
  ``auto_map`` points transformers at Python files inside the folder, which this pipeline never runs;
- every ``*.safetensors`` file has a complete header and data (a truncated download is named);
- a tokenizer file exists (``tokenizer.json``, or a sentencepiece / vocabulary file).
Whatever transformers still refuses becomes a PipelineError naming the folder and the reason.
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError, safe_open

from pipeutil.io import PipelineError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt")
CODE_CONFIGS = ("config.json", "tokenizer_config.json")
LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, SafetensorError)


def _json_object(path: Path, where: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{where}: {path} is not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise PipelineError(f"{where}: {path} must hold a JSON object, not {type(data).__name__}")
    return data


def _check_safetensors(path: Path, where: str) -> None:
    try:
        with safe_open(str(path), "pt") as fh:
            fh.keys()
    except (SafetensorError, OSError) as exc:
        raise PipelineError(f"{where}: {path} is truncated or not a safetensors file ({exc})") from exc


def check_model_folder(folder: str | Path, where: str, tokenizer: bool = True) -> Path:
    """Raise PipelineError unless ``folder`` is a Hugging Face model folder that loads without custom code."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise PipelineError(f"{where}: {folder} is not a loadable Hugging Face model folder (no config.json)")
    for name in CODE_CONFIGS:
        path = folder / name
        if path.is_file() and "auto_map" in (data := _json_object(path, where)):
            raise PipelineError(f"{where}: {path} has 'auto_map' ({sorted(data['auto_map'])}): the model needs "
                                "Python code from its folder, which this pipeline never runs "
                                "(trust_remote_code=False); use a model of an architecture transformers ships")
    weights = sorted(folder.glob("*.safetensors"))
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(_json_object(index, where).get("weight_map", {}).values()))
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise PipelineError(f"{where}: {index} lists weight files that are missing: {missing[:3]}")
    if not weights and not list(folder.glob("*.bin")):
        raise PipelineError(f"{where}: {folder} holds no weight file (*.safetensors)")
    for path in weights:
        _check_safetensors(path, where)
    if tokenizer:
        if not any((folder / n).is_file() for n in TOKENIZER_FILES):
            raise PipelineError(f"{where}: {folder} has no tokenizer file (expected tokenizer.json or one of "
                                f"{list(TOKENIZER_FILES[1:])})")
        if (folder / "tokenizer.json").is_file():
            _json_object(folder / "tokenizer.json", where)
    return folder


def _load(cls, name: str, where: str, **kwargs):
    try:
        return cls.from_pretrained(name, trust_remote_code=False, **kwargs)
    except LOAD_ERRORS as exc:
        raise PipelineError(f"{where}: cannot load {name} with transformers ({type(exc).__name__}: "
                            f"{str(exc).strip()[:500]})") from exc


def load_model(folder: str | Path, where: str | None = None, **kwargs):
    """AutoModelForCausalLM of a local folder (checked first); ``kwargs`` go to from_pretrained (dtype, ...)."""
    from transformers import AutoModelForCausalLM

    where = where or "model"
    check_model_folder(folder, where, tokenizer=False)
    return _load(AutoModelForCausalLM, str(folder), where, local_files_only=True, **kwargs)


def load_tokenizer(folder: str | Path, where: str | None = None, **kwargs):
    """AutoTokenizer of a local folder (checked first)."""
    from transformers import AutoTokenizer

    where = where or "model"
    check_model_folder(folder, where, tokenizer=True)
    return _load(AutoTokenizer, str(folder), where, local_files_only=True, **kwargs)


def load_local(folder: str | Path, where: str | None = None, **kwargs):
    """(model, tokenizer) of a local Hugging Face folder."""
    return load_model(folder, where, **kwargs), load_tokenizer(folder, where)


def load_gguf(path: str | Path, where: str, **kwargs):
    """(model, tokenizer) dequantised from a .gguf file (config and tokenizer come from the file itself)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    folder = str(path.parent)
    tok = _load(AutoTokenizer, folder, where, gguf_file=path.name, local_files_only=True)
    return _load(AutoModelForCausalLM, folder, where, gguf_file=path.name, local_files_only=True, **kwargs), tok


def load_hub(hub_id: str, where: str, **kwargs):
    """(model, tokenizer) of a Hugging Face hub id (custom-code repositories are refused by transformers)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return _load(AutoModelForCausalLM, hub_id, where, **kwargs), _load(AutoTokenizer, hub_id, where)


def load_pretrained(folder, device: str = "cpu", dtype: str = "auto"):
    """A causal LM (eval mode, on ``device``) and its tokenizer (pad = eos when it has none) from a local
    Hugging Face folder (never the hub); ``dtype``: "auto" (as saved) or a torch dtype name."""
    import torch  # heavy: this module is imported where no model is loaded (download_dataset)

    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model, tok = load_local(folder, dtype=torch_dtype)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.to(device).eval(), tok
