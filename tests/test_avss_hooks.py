"""Decoder-layer discovery and context-managed hooks on tiny random models of every family."""
import pytest
import torch
from tiny_llm import ARCH_KW, make_tiny_llm
from torch import nn

from avss.hooks import block_hooks, count_hooks, find_decoder_layers
from pipeutil.io import PipelineError

ARCHS = list(ARCH_KW)  # llama, qwen2, mistral, gemma, gpt2, opt, gpt_neox
IDS = torch.tensor([[5, 17, 42, 9, 3, 77, 11, 2]])  # [1, 8]


@pytest.mark.parametrize("arch", ARCHS)
def test_every_family_is_found_hooked_and_unchanged(arch):
    model, _ = make_tiny_llm(None, n_layers=3, arch=arch)
    assert len(find_decoder_layers(model).layers) == 3
    with torch.no_grad():
        plain = model(IDS).logits
    seen = []
    with torch.no_grad(), block_hooks(model, lambda io: seen.append((io.layer, io.inp.shape, io.out.shape))):
        hooked = model(IDS).logits
        assert count_hooks(model) == 3
    assert [s[0] for s in seen] == [0, 1, 2]
    assert all(s[1] == s[2] == (1, 8, 64) for s in seen)
    assert torch.equal(plain, hooked)  # hooks only read
    assert count_hooks(model) == 0


@pytest.mark.parametrize("arch", ARCHS)
def test_mlp_activation_site_has_the_mlp_width(arch):
    model, _ = make_tiny_llm(None, n_layers=2, arch=arch)
    widths = []
    with torch.no_grad(), block_hooks(model, lambda io: widths.append(tuple(io.mlp_act.shape)), site="mlp_act"):
        model(IDS)
    expect = 256 if arch == "gpt2" else 128  # GPT-2 uses 4 x hidden, the others 2 x hidden here
    assert widths == [(1, 8, expect)] * 2
    assert count_hooks(model) == 0


def test_block_input_is_previous_block_output():
    model, _ = make_tiny_llm(None, n_layers=3)
    ios = []
    with torch.no_grad(), block_hooks(model, ios.append):
        model(IDS)
    assert torch.equal(ios[0].out, ios[1].inp) and torch.equal(ios[1].out, ios[2].inp)


def test_hooks_are_removed_when_the_callback_raises_and_when_nested():
    model, _ = make_tiny_llm(None, n_layers=2)

    def boom(io):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"), block_hooks(model, boom):
        model(IDS)
    assert count_hooks(model) == 0
    outer, inner = [], []
    with block_hooks(model, outer.append):
        with block_hooks(model, inner.append):
            assert count_hooks(model) == 4
            model(IDS)
        assert count_hooks(model) == 2
        model(IDS)
    assert (len(inner), len(outer), count_hooks(model)) == (2, 4, 0)


def test_unknown_model_lists_supported_families():
    class Weird(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4)])

    with pytest.raises(PipelineError, match="Supported families.*GPT-2.*OPT.*GPT-NeoX"):
        find_decoder_layers(Weird())
    with pytest.raises(PipelineError, match="Supported families"), block_hooks(Weird(), print):
        pass


def test_bad_site_attaches_nothing():
    model, _ = make_tiny_llm(None, n_layers=2)
    with pytest.raises(PipelineError, match="capture.site"), block_hooks(model, print, site="attention"):
        pass
    assert count_hooks(model) == 0
