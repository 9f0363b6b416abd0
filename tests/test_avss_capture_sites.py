"""capture_sites: every site in one pass equals one single-site capture per site; files round-trip."""
import numpy as np
import pytest
import torch
from tiny_llm import CORPUS, make_tiny_llm

from avss.activations import (
    CaptureConfig,
    calibration_windows,
    capture_token_batches,
    window_batches,
)
from avss.capture.sites import calibration_text, capture_sites
from avss.hooks import count_hooks
from avss.sites import load_sites, save_sites
from pipeutil.io import PipelineError, write_jsonl

SITES = ("block_output", "block_delta", "mlp_act")


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_llm(None, n_layers=3)


@pytest.fixture(scope="module")
def windows(tiny):
    return calibration_windows(" ".join(CORPUS) * 8, tiny[1], 6, 16, 0, (0.0, 1.0))  # [6, 16]


def test_every_site_equals_its_own_capture(tiny, windows):
    model, _ = tiny
    res = capture_sites(model, window_batches(windows, 4), SITES, CaptureConfig(progress=False, batch_size=4))
    assert count_hooks(model) == 0
    for site in SITES:
        ref = capture_token_batches(model, window_batches(windows, 4), CaptureConfig(site=site, progress=False, batch_size=4))
        for a, b in zip(res.sites[site], ref.layers):
            assert a.count == b.count
            assert a.var_all == pytest.approx(b.var_all, rel=1e-6)
            assert a.cos_in_out == pytest.approx(b.cos_in_out, rel=1e-6)
            np.testing.assert_array_equal(a.hist, b.hist)
        np.testing.assert_allclose(res.angular, ref.angular, rtol=1e-6, atol=1e-9)
    # input scale E[x_in^2] per layer from the stored hidden states (hidden_states[l] enters block l)
    with torch.no_grad():
        hs = model(input_ids=windows, output_hidden_states=True).hidden_states
    for layer in range(3):
        assert res.in_meansq[layer] == pytest.approx(hs[layer].double().square().mean().item(), rel=1e-5)


def test_save_load_round_trip_and_bad_input(tiny, windows, tmp_path):
    model, _ = tiny
    before = count_hooks(model)  # transformers' own output-capture hooks (output_hidden_states) may stay
    res = capture_sites(model, window_batches(windows, 3), ("block_output", "mlp_act"), CaptureConfig(progress=False))
    save_sites(res, tmp_path / "s.npz", tmp_path / "s.json", {"calibration": {"name": "wiki"}})
    back = load_sites(tmp_path / "s.npz", tmp_path / "s.json")
    for site in ("block_output", "mlp_act"):
        assert [ls.var_all for ls in back.sites[site]] == [ls.var_all for ls in res.sites[site]]
    np.testing.assert_array_equal(back.in_meansq, res.in_meansq)
    with pytest.raises(PipelineError, match="capture.sites"):
        capture_sites(model, window_batches(windows, 3), ("block_outptu",), CaptureConfig(progress=False))
    assert count_hooks(model) == before


def test_calibration_texts(tmp_path):
    (tmp_path / "wiki.txt").write_text("alpha beta\ngamma\n", encoding="utf-8")
    write_jsonl(tmp_path / "sciq.jsonl", [{"id": str(i), "context": f"support {i}." if i % 2 else ""} for i in range(8)])
    assert calibration_text("wiki", {"dataset": "wiki", "text_range": [0.0, 0.5]}, tmp_path) == ("alpha beta\ngamma\n", (0.0, 0.5))
    text, rng = calibration_text("sciq", {"dataset": "sciq", "pool": [0.5, 1.0]}, tmp_path)
    assert text == "support 5.\nsupport 7." and rng == (0.0, 1.0)  # only the second half, empty ones skipped
    with pytest.raises(PipelineError, match="capture.calibrations.x.dataset"):
        calibration_text("x", {"dataset": "nq_open"}, tmp_path)
