"""Model materialisation: a saved folder loads with plain from_pretrained and keeps the logits."""
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from avss.model_io import load_source_model, save_model
from pipeutil.io import PipelineError
from tiny_llm import make_tiny_llm

ROOT = Path(__file__).resolve().parents[1]


def test_file_source_roundtrip(tmp_path):
    ref, tok = make_tiny_llm(tmp_path / "src", n_layers=3)
    model, tok2, prov = load_source_model({"source": f"file:{tmp_path / 'src'}"}, "", None, tmp_path)
    entry = save_model(model, tok2, prov, str(tmp_path / "out"))
    assert entry["num_hidden_layers"] == 3 and entry["model_type"] == "llama"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    ids = AutoTokenizer.from_pretrained(tmp_path / "out")("The capital of France", return_tensors="pt").input_ids
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
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    assert model.config.num_hidden_layers == 30
    enc = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=16, do_sample=False)
    assert "Paris" in tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
