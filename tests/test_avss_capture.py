"""Capture: padding excluded, statistics equal a stored-activation reference, files, bad input."""
import json

import numpy as np
import pytest
import torch
from tiny_llm import CORPUS, make_tiny_llm

from avss.activations import (
    CaptureConfig,
    calibration_windows,
    capture_stats,
    capture_token_batches,
    load_capture,
    save_capture,
    window_batches,
)
from avss.capture.layer_ppl import leave_one_out_perplexity, window_perplexity
from avss.hooks import count_hooks, find_decoder_layers
from avss.pruning.prune import layers_removed
from pipeutil.io import PipelineError

CFG = CaptureConfig(progress=False, batch_size=3)


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_llm(None, n_layers=3)


def test_matches_stored_hidden_states(tiny):
    model, tok = tiny
    res = capture_stats(model, tok, CORPUS[:2], CaptureConfig(progress=False, batch_size=1))
    hs = []
    with torch.no_grad():
        for text in CORPUS[:2]:
            hs.append(model(**tok(text, return_tensors="pt"), output_hidden_states=True).hidden_states)
    for layer in range(2):  # hidden_states[-1] is after the final norm; compare the inner blocks
        acts = torch.cat([h[layer + 1][0] for h in hs]).double().numpy()  # [N, H]
        ls = res.layers[layer]
        assert ls.count == acts.shape[0]
        assert ls.var_all == pytest.approx(acts.var(), rel=1e-5)
        np.testing.assert_allclose(ls.feature_var, acts.var(0), rtol=1e-4, atol=1e-9)
    assert res.meta["n_tokens"] == sum(len(tok(t)["input_ids"]) for t in CORPUS[:2])


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_is_excluded(tiny, side):
    model, tok = tiny
    tok.padding_side = side
    texts = [CORPUS[0], "Paris", CORPUS[3]]
    batched = capture_stats(model, tok, texts, CaptureConfig(progress=False, batch_size=3))
    single = capture_stats(model, tok, texts, CaptureConfig(progress=False, batch_size=1))
    tok.padding_side = "right"
    for a, b in zip(batched.layers, single.layers):
        assert a.count == b.count
        assert a.var_all == pytest.approx(b.var_all, rel=1e-4)
        assert a.cos_in_out == pytest.approx(b.cos_in_out, rel=1e-4)
        assert a.angular_last == pytest.approx(b.angular_last, rel=1e-3, abs=1e-6)
        np.testing.assert_array_equal(a.hist.sum(), b.hist.sum())


@pytest.mark.parametrize("site,pooling", [("block_delta", "mean"), ("mlp_act", "last"), ("block_output", "all")])
def test_sites_and_poolings(tiny, site, pooling):
    model, tok = tiny
    res = capture_stats(model, tok, CORPUS, CaptureConfig(site=site, pooling=pooling, progress=False, batch_size=4))
    assert res.layers[0].dim == (128 if site == "mlp_act" else 64)
    assert res.layers[0].count == (len(CORPUS) if pooling != "all" else res.meta["n_tokens"])
    assert res.angular.shape == (4, 4) and np.allclose(np.diag(res.angular), 0, atol=1e-3)


def test_save_load_roundtrip_and_nan_names_the_layer(tiny, tmp_path):
    model, tok = tiny
    res = capture_stats(model, tok, CORPUS, CFG)
    save_capture(res, tmp_path / "s.npz", tmp_path / "s.json", {"model_dir": "x"})
    back = load_capture(tmp_path / "s.npz", tmp_path / "s.json")
    assert [a.var_all for a in back.layers] == [a.var_all for a in res.layers]
    assert json.loads((tmp_path / "s.json").read_text())["model_dir"] == "x"
    with np.load(tmp_path / "s.npz") as z:
        arrays = dict(z)
    arrays["feature_m2"][2, 5] = np.nan
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(PipelineError, match="layer 2: NaN or inf in 'feature_m2'"):
        load_capture(tmp_path / "bad.npz", tmp_path / "s.json")


def test_calibration_windows_are_seeded_and_checked(tiny):
    _, tok = tiny
    text = "\n".join(CORPUS * 20)
    a = calibration_windows(text, tok, 4, 16, seed=3)
    assert a.shape == (4, 16) and torch.equal(a, calibration_windows(text, tok, 4, 16, seed=3))
    assert not torch.equal(a, calibration_windows(text, tok, 4, 16, seed=4))
    with pytest.raises(PipelineError, match="too short"):
        calibration_windows(text, tok, 1000, 16, seed=3)
    with pytest.raises(PipelineError, match="empty"):
        calibration_windows("  \n ", tok, 1, 16, seed=3)


def test_empty_inputs_are_errors(tiny):
    model, tok = tiny
    with pytest.raises(PipelineError, match="no non-empty text"):
        capture_stats(model, tok, ["", "  "], CFG)
    with pytest.raises(PipelineError, match="empty"):
        capture_token_batches(model, iter([]), CFG)


@pytest.mark.parametrize("arch", ["llama", "gpt2", "opt", "gpt_neox"])
def test_leave_one_out_perplexity_equals_plain_pruned_passes(arch):
    model, _ = make_tiny_llm(None, n_layers=3, arch=arch)
    windows = torch.randint(0, 300, (3, 12))
    res = leave_one_out_perplexity(model, windows, batch_size=2, progress=False)  # replays layers < l
    for layer in range(3):
        with layers_removed(model, [layer]):
            assert res["without"][layer] == pytest.approx(window_perplexity(model, windows, 3), rel=1e-5)
    assert res["dense"] == pytest.approx(window_perplexity(model, windows, 1), rel=1e-5)
    assert len(find_decoder_layers(model).layers) == 3 and count_hooks(model) == 0
    assert capture_token_batches(model, window_batches(windows, 2), CFG).meta["n_tokens"] == 36
