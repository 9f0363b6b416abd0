"""Layer removal: equivalence with skipping the block, KV cache, restore, save + reload, bad input."""
import json

import pytest
import torch
from tiny_llm import make_tiny_llm

from avss.hf_io import load_pretrained
from avss.hooks import find_decoder_layers
from avss.pruning.prune import greedy, layers_removed, save_pruned
from avss.surgery import prune_layers
from pipeutil.io import PipelineError

IDS = torch.tensor([[5, 17, 42, 9, 3, 77, 11, 2, 8, 30]])  # [1, 10]


def _skipping(model, skip):
    """Reference: the dense model with blocks ``skip`` replaced by the identity (forward hooks)."""
    def identity(module, args, kwargs, output):
        inp = args[0] if args else kwargs["hidden_states"]
        return (inp, *output[1:]) if isinstance(output, tuple) else inp
    layers = find_decoder_layers(model).layers
    return [layers[i].register_forward_hook(identity, with_kwargs=True) for i in skip]


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma", "gpt2", "opt", "gpt_neox"])
def test_pruned_equals_skipping_and_kv_cache_works(arch):
    model, _ = make_tiny_llm(None, n_layers=4, arch=arch)
    handles = _skipping(model, [1, 2])
    with torch.no_grad():
        ref = model(IDS).logits  # [1, 10, V]
    for h in handles:
        h.remove()
    with torch.no_grad(), layers_removed(model, [1, 2]) as pruned:
        assert pruned.config.num_hidden_layers == 2
        assert [m.layer_idx for m in pruned.modules() if isinstance(getattr(m, "layer_idx", None), int)][-1] == 1
        torch.testing.assert_close(pruned(IDS).logits, ref)
        assert torch.equal(greedy(pruned, IDS, 6, use_cache=True), greedy(pruned, IDS, 6, use_cache=False))


def test_prune_nothing_is_identity_and_context_restores_even_on_error():
    model, _ = make_tiny_llm(None, n_layers=4, arch="qwen2")
    with torch.no_grad():
        dense = model(IDS).logits
        assert torch.equal(prune_layers(model, [])(IDS).logits, dense)
    types = list(model.config.layer_types)
    with pytest.raises(RuntimeError, match="inside"), layers_removed(model, [0, 3]) as pruned:
        assert pruned.config.layer_types == [types[1], types[2]]
        raise RuntimeError("inside")
    assert model.config.num_hidden_layers == 4 and model.config.layer_types == types
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == [0, 1, 2, 3]
    with torch.no_grad():
        assert torch.equal(model(IDS).logits, dense)


def test_bad_layer_lists():
    model, _ = make_tiny_llm(None, n_layers=3)
    with pytest.raises(PipelineError, match="cannot remove all 3"):
        prune_layers(model, [0, 1, 2])
    with pytest.raises(PipelineError, match="outside 0..2"):
        prune_layers(model, [3])
    with pytest.raises(PipelineError, match="duplicates"):
        prune_layers(model, [1, 1])
    assert model.config.num_hidden_layers == 3


def test_saved_folder_loads_with_plain_from_pretrained(tmp_path):
    from transformers import AutoModelForCausalLM

    make_tiny_llm(tmp_path / "dense", n_layers=4)
    model, tok = load_pretrained(tmp_path / "dense")
    rec = save_pruned(model, tok, [2], tmp_path / "pruned", {"method": "test"}, IDS)
    assert rec["n_layers_before"] == 4 and rec["n_layers_after"] == 3 and rec["removed_layers"] == [2]
    assert model.config.num_hidden_layers == 4  # the dense model in memory is untouched
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "pruned", trust_remote_code=False)
    assert loaded.config.num_hidden_layers == 3 and len(loaded.model.layers) == 3
    with torch.no_grad(), layers_removed(model, [2]) as pruned:
        torch.testing.assert_close(loaded(IDS).logits, pruned(IDS).logits)
    assert json.loads((tmp_path / "pruned" / "pruning.json").read_text())["check"]["kv_cache_generation"] == "ok"
    with pytest.raises(PipelineError, match="cannot remove all"):
        save_pruned(model, tok, [0, 1, 2, 3], tmp_path / "all", {}, IDS)
    assert not (tmp_path / "all").exists() and not list(tmp_path.glob(".all*"))  # nothing partial


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(PipelineError, match="not a loadable Hugging Face model folder"):
        load_pretrained(tmp_path / "nope")
