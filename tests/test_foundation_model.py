"""Model materialisation: a saved folder loads with plain from_pretrained and keeps the logits; folders that
would run their own code, truncated weights and missing tokenizers are refused with the file named."""
import ast
import json
from pathlib import Path

import pytest
import torch
from tiny_llm import make_tiny_llm
from transformers import AutoModelForCausalLM, AutoTokenizer

from avss.data.model_io import load_source_model, save_model
from pipeutil.io import PipelineError

ROOT = Path(__file__).resolve().parents[1]


def test_file_source_roundtrip(tmp_path):
    ref, tok = make_tiny_llm(tmp_path / "src", n_layers=3)
    model, tok2, prov = load_source_model({"source": f"file:{tmp_path / 'src'}"}, "", None, tmp_path)
    entry = save_model(model, tok2, prov, str(tmp_path / "out"))
    assert entry["num_hidden_layers"] == 3 and entry["model_type"] == "llama"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out", trust_remote_code=False).eval()
    ids = AutoTokenizer.from_pretrained(tmp_path / "out", trust_remote_code=False)("The capital of France", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, ref(ids).logits)
    assert json.loads((tmp_path / "out" / "provenance.json").read_text())["source"].startswith("file:")


def test_bad_model_sources(tmp_path):
    with pytest.raises(PipelineError, match="neither a .gguf file nor a Hugging Face folder"):
        load_source_model({"source": f"file:{tmp_path}"}, "", None, tmp_path)
    with pytest.raises(PipelineError, match="unknown source scheme"):
        load_source_model({"source": "ftp:x"}, "", None, tmp_path)
    model, tok = make_tiny_llm(None, n_layers=2)
    with pytest.raises(PipelineError, match="model.dtype"):
        save_model(model, tok, {}, str(tmp_path / "o"), dtype="int3")
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not (ROOT / "results/download/model/config.json").is_file(),
                    reason="real model not downloaded (run `make run` or the download phase first)")
def test_real_default_model_answers_paris():
    folder = ROOT / "results/download/model"
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=False).eval()
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    assert model.config.num_hidden_layers == 30
    enc = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=16, do_sample=False)
    assert "Paris" in tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def _tiny_folder(tmp_path, name="m"):
    make_tiny_llm(tmp_path / name, n_layers=2)
    return tmp_path / name


def test_folder_with_auto_map_is_refused_and_its_code_never_runs(tmp_path):
    folder = _tiny_folder(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(model_type="planted", auto_map={"AutoConfig": "planted.Cfg", "AutoModelForCausalLM": "planted.Model"})
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "planted.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    with pytest.raises(PipelineError, match=r"model.source: .*config.json has 'auto_map'.*never runs"):
        load_source_model({"source": f"file:{folder}"}, "", None, tmp_path)
    assert not (tmp_path / "ran").exists()


def test_tokenizer_config_with_auto_map_is_refused(tmp_path):
    folder = _tiny_folder(tmp_path)
    tc = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**tc, "auto_map": {"AutoTokenizer": ["x.T", None]}}))
    with pytest.raises(PipelineError, match=r"tokenizer_config.json has 'auto_map'"):
        load_source_model({"source": f"file:{folder}"}, "", None, tmp_path)


def test_truncated_weights_and_missing_tokenizer_name_the_file(tmp_path):
    from avss.hf_io import load_local

    folder = _tiny_folder(tmp_path)
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as fh:
        fh.truncate(weights.stat().st_size // 2)
    with pytest.raises(PipelineError, match=r"model.safetensors is truncated or not a safetensors file"):
        load_local(folder)
    folder = _tiny_folder(tmp_path, "m2")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(PipelineError, match=r"m2 has no tokenizer file \(expected tokenizer.json"):
        load_source_model({"source": f"file:{folder}"}, "", None, tmp_path)


def _from_pretrained_calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "from_pretrained":
            yield node


def test_every_from_pretrained_call_refuses_remote_code():
    """Static check: every ``*.from_pretrained(...)`` of the project passes trust_remote_code=False."""
    files = [p for d in ("src", "benchmarks", "tests", "workflow") for p in (ROOT / d).rglob("*.py")]
    calls = [(p, c) for p in files for c in _from_pretrained_calls(p)]
    assert len(calls) >= 6  # the loaders of avss.hf_io, the tests' own loads
    bad = [f"{p.relative_to(ROOT)}:{c.lineno}" for p, c in calls
           if not any(k.arg == "trust_remote_code" and isinstance(k.value, ast.Constant) and k.value.value is False
                      for k in c.keywords)]
    assert not bad, f"from_pretrained without trust_remote_code=False: {bad}"
