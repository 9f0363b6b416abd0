"""Linear patch of a pruned model: least-squares optimum on its fit data, exact on a linear (identity) span,
folded folder loads with from_pretrained and generates with the KV cache; bad input."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_llm import make_tiny_llm

from avss.hf_io import load_pretrained
from avss.hooks import find_decoder_layers
from avss.pruning.patch import (
    Span,
    SpanStats,
    accumulate_span_stats,
    fit_patches,
    patched,
    removed_spans,
    solve_patch,
)
from avss.pruning.prune import greedy, layers_removed, save_pruned
from pipeutil.io import PipelineError

IDS = torch.tensor([[5, 17, 42, 9, 3, 77, 11, 2, 8, 30]])  # [1, 10]


def _batches(n=6, t=24, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, 300, (2, t), generator=g) for _ in range(n // 2)]  # 3 x [2, T]: 144 tokens > H = 32


def _dense_terms(model, batches, fold, end):
    """Reference M (MLP output of ``fold``), a (its residual after attention) and h (output of ``end``) per token."""
    down = find_decoder_layers(model).layers[fold].mlp.down_proj
    ms = []
    hd = down.register_forward_hook(lambda mod, a, out: ms.append(out.reshape(-1, out.shape[-1]).double()))
    hs_fold, hs_end = [], []
    with torch.no_grad():
        for ids in batches:
            hs = model(ids, output_hidden_states=True).hidden_states  # L + 1 x [B, T, H]; [k] = input of layer k
            hs_fold.append(hs[fold + 1].reshape(-1, hs[0].shape[-1]).double())
            hs_end.append(hs[end + 1].reshape(-1, hs[0].shape[-1]).double())
    hd.remove()
    m = torch.cat(ms)
    return m, torch.cat(hs_fold) - m, torch.cat(hs_end)


def test_patch_is_the_least_squares_optimum_on_its_fit_data():
    model, _ = make_tiny_llm(None, n_layers=4, hidden=32)
    batches = _batches()
    (patch,) = fit_patches(model, batches, [2], ridge=0.0)  # span 2..2, folded into layer 1
    assert patch.span == Span(1, 2, 2)
    m, a, h = _dense_terms(model, batches, 1, 2)
    t_ref = np.linalg.lstsq(m.numpy(), (h - a).numpy(), rcond=None)[0]  # [H, H]
    np.testing.assert_allclose(patch.t, t_ref, rtol=1e-6, atol=1e-8)
    assert patch.rel_error < patch.rel_error_pruned  # T = I is one candidate of the minimisation
    resid = float(((m @ torch.from_numpy(t_ref) - (h - a)) ** 2).sum() / ((h - a) ** 2).sum())
    assert patch.rel_error == pytest.approx(resid, rel=1e-6, abs=1e-9)
    # the folded weight gives the fold layer the output a + M T (layers 0, 1 are unchanged otherwise)
    with patched(model, [patch]), layers_removed(model, [2]) as pruned, torch.no_grad():
        got = torch.cat([pruned(ids, output_hidden_states=True).hidden_states[2].reshape(-1, 32).double()
                         for ids in batches])
    torch.testing.assert_close(got, a + m @ torch.from_numpy(t_ref), rtol=1e-4, atol=1e-4)


def test_patch_is_exact_when_the_removed_span_is_linear():
    """Layers 1-2 made the identity (zero attention output and MLP output): h_out = a + M, so T = I exactly and the
    patched pruned model equals the dense model (a ridge only pulls further toward I)."""
    model, _ = make_tiny_llm(None, n_layers=5, hidden=32)
    layers = find_decoder_layers(model).layers
    with torch.no_grad():
        for i in (2, 3):
            layers[i].self_attn.o_proj.weight.zero_()
            layers[i].mlp.down_proj.weight.zero_()
        dense = model(IDS).logits  # [1, 10, V]
    for ridge in (0.0, 0.1):
        (patch,) = fit_patches(model, _batches(), [2, 3], ridge=ridge)
        assert patch.span == Span(1, 2, 3)
        np.testing.assert_allclose(patch.t, np.eye(32), atol=1e-6)
        assert patch.rel_error < 1e-10
        with patched(model, [patch]), layers_removed(model, [2, 3]) as pruned, torch.no_grad():
            torch.testing.assert_close(pruned(IDS).logits, dense, rtol=1e-4, atol=1e-4)


def test_patched_folder_loads_and_generates_with_the_kv_cache(tmp_path):
    model, tok = make_tiny_llm(None, n_layers=6, hidden=32)
    before = [p.detach().clone() for p in model.parameters()]
    patches = fit_patches(model, _batches(), [2, 4], ridge=1e-3)  # two spans: folds 1 and 3
    assert [p.span for p in patches] == [Span(1, 2, 2), Span(3, 4, 4)]
    with patched(model, patches):
        with layers_removed(model, [2, 4]) as pruned, torch.no_grad():
            patched_logits = pruned(IDS).logits
        record = save_pruned(model, tok, [2, 4], tmp_path / "patched", {"heal": "patch"}, IDS)
    assert record["check"]["kv_cache_generation"] == "ok" and record["n_layers_after"] == 4
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # dense weights restored
    loaded, _ = load_pretrained(tmp_path / "patched")
    assert loaded.config.num_hidden_layers == 4
    with torch.no_grad():
        torch.testing.assert_close(loaded(IDS).logits, patched_logits, rtol=1e-4, atol=1e-4)
    assert torch.equal(greedy(loaded, IDS, 6, use_cache=True), greedy(loaded, IDS, 6, use_cache=False))
    with layers_removed(model, [2, 4]) as pruned, torch.no_grad():
        assert not torch.allclose(pruned(IDS).logits, patched_logits)  # the patch changed the pruned model
    assert json.loads((tmp_path / "patched" / "pruning.json").read_text())["heal"] == "patch"


def test_patched_restores_the_weights_when_the_body_raises():
    model, _ = make_tiny_llm(None, n_layers=4, hidden=32)
    patches = fit_patches(model, _batches(), [2], ridge=1e-3)
    w = model.model.layers[1].mlp.down_proj.weight.detach().clone()
    with pytest.raises(RuntimeError), patched(model, patches):
        assert not torch.equal(model.model.layers[1].mlp.down_proj.weight, w)
        raise RuntimeError("boom")
    assert torch.equal(model.model.layers[1].mlp.down_proj.weight, w)


@pytest.mark.parametrize("removed, kw, match", [
    ([0, 1], {"protect_first": True}, "first layer, which is protected"),
    ([0, 1], {"protect_first": False}, "starts at layer 0"),
    ([3], {"protect_last": True}, "last layer, which is protected"),
    ([], {}, "nothing to patch"),
    ([1, 2, 3, 0], {"protect_first": False}, "invalid removed layers"),
])
def test_bad_spans_are_refused(removed, kw, match):
    with pytest.raises(PipelineError, match=match):
        removed_spans(removed, 4, **kw)


def test_a_span_reaching_the_unprotected_last_layer_is_patched():
    assert removed_spans([2, 3], 4, protect_last=False) == [Span(1, 2, 3)]


def test_singular_statistics_name_the_ridge_parameter():
    model, _ = make_tiny_llm(None, n_layers=4, hidden=32)
    few = [torch.randint(3, 300, (1, 8), generator=torch.Generator().manual_seed(0))]  # 8 tokens < H = 32
    with pytest.raises(PipelineError, match=r"singular.*heal\.patch\.ridge > 0"):
        fit_patches(model, few, [2], ridge=0.0)
    (patch,) = fit_patches(model, few, [2], ridge=1e-2)  # the ridge makes it solvable
    assert np.isfinite(patch.t).all()


def test_no_tokens_and_negative_ridge_are_refused():
    with pytest.raises(PipelineError, match="no calibration tokens"):
        solve_patch(Span(1, 2, 2), SpanStats(np.zeros((4, 4)), np.zeros((4, 4))), 0.1)
    with pytest.raises(PipelineError, match="negative"):
        solve_patch(Span(1, 2, 2), SpanStats(np.eye(4), np.eye(4), 1.0, 10), -1.0)


def test_unsupported_family_is_refused():
    model, _ = make_tiny_llm(None, n_layers=4, arch="gpt2", hidden=32)
    with pytest.raises(PipelineError, match="not supported"):
        accumulate_span_stats(model, _batches(), [Span(1, 2, 2)])


HEAL = {"methods": None, "ratios": [0.25],
        "patch": {"enabled": True, "n_samples": 4, "seq_len": 16, "seed": 0, "text_range": [0.0, 0.5],
                  "batch_size": 2, "ridge": 1e-3},
        "lora": {"enabled": True, "tokens": 32, "seq_len": 8, "batch_size": 2, "seed": 0, "text_range": [0.0, 0.5],
                 "rank": 2, "alpha": 4.0, "target_modules": ["q_proj", "down_proj"], "lr": 1e-2, "distill": 0.5,
                 "save_every": 1}}
HEAL_SCORES = {"avss": {"per_layer": [0.1, 0.2, 0.3, 0.4], "ranking": [0, 1, 2, 3], "selected": {"0.25": [1], "0.5": [1, 2]}},
               "mid": {"per_layer": [0, 1, 0, 1], "ranking": [2, 0, 1, 3], "selected": {"0.25": [2], "0.5": [1, 2]}}}


def test_sweep_evaluates_pruned_and_patched_on_the_same_items_and_reports_both(tmp_path):
    from test_avss_eval_runner import make_datasets

    from avss.pruning.report import write_report
    from avss.pruning.sweep import heal_windows, run_sweep

    model, tok = make_tiny_llm(None, n_layers=4, hidden=32)
    before = [p.detach().clone() for p in model.parameters()]
    folder = make_datasets(tmp_path / "ds", n=3)
    spec = {"sciq": {"limit": 3}, "wiki": {"n_docs": 2, "words_per_doc": 12}}
    windows, lora_windows = heal_windows(tok, folder, HEAL), heal_windows(tok, folder, HEAL, "lora")
    assert tuple(windows.shape) == (4, 16) and tuple(lora_windows.shape) == (4, 8)  # 2 LoRA steps of 2 x 8 tokens
    sweep = run_sweep(model, tok, HEAL_SCORES, spec, folder, backend_opts={"batch_size": 2, "progress": False},
                      decision_ratio=0.25, heal=HEAL, calibration=windows, lora_windows=lora_windows,
                      state_root=tmp_path / "state")
    assert sorted(sweep["evaluations"]) == ["dense", "drop-1", "drop-1+patch", "drop-1+patch+lora", "drop-1-2",
                                            "drop-2", "drop-2+patch", "drop-2+patch+lora"]
    assert sweep["lora"]["drop-1+patch+lora"]["steps"] == 2 and not (tmp_path / "state" / "drop-1+patch+lora").exists()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # dense weights back after the sweep
    assert sweep["patches"]["drop-1+patch"][0]["fold"] == 0 and "patch_fit" in sweep["seconds"]
    ev = sweep["evaluations"]
    assert ev["drop-1+patch"]["sciq"]["ids"] == ev["drop-1"]["sciq"]["ids"]  # paired items
    assert ev["drop-1+patch"]["wiki"]["metrics"] != ev["drop-1"]["wiki"]["metrics"]  # the patch changed the model
    out = {k: tmp_path / "out" / f"{k}.{ext}" for k, ext in
           [("csv", "csv"), ("metrics", "json"), ("summary", "md"), ("layer_scores", "png"),
            ("retention", "png"), ("heatmap", "png"), ("healing", "png")]}
    rows = write_report(sweep, out, ratio=0.25, reference="avss", n_boot=50)
    assert all(p.exists() for p in out.values())
    assert {r["heal"] for r in rows} == {"none", "patch", "patch+lora"}
    summary = out["summary"].read_text()
    assert "## Healing at 25.0%: pruned, patched" in summary and "Kendall's tau" in summary
    assert "Chance-adjusted retention on SciQ" in summary
    metrics = json.loads(out["metrics"].read_text())
    assert {"avss", "avss+patch", "avss+patch+lora", "mid", "mid+patch", "mid+patch+lora"} <= set(metrics)
    assert "patched + LoRA - pruned" in summary
    assert "avss+patch" not in summary.split("## Healing")[0]  # the proxy study ranks the models as pruned


def test_heal_plan_bad_input():
    from avss.pruning.sweep import plan_heal_runs, plan_runs, run_sweep

    runs = plan_runs(HEAL_SCORES, 4, 0.25)
    with pytest.raises(PipelineError, match=r"evaluate_pruning.heal.methods: \['bi'\] not computed"):
        plan_heal_runs(runs, {**HEAL, "methods": ["bi"]})
    with pytest.raises(PipelineError, match=r"evaluate_pruning.heal.ratios: \[0.4\] are not evaluated"):
        plan_heal_runs(runs, {**HEAL, "ratios": [0.4]})
    off = {**HEAL, "patch": {**HEAL["patch"], "enabled": False}, "lora": {**HEAL["lora"], "enabled": False}}
    assert plan_heal_runs(runs, off) == []
    lora_only = plan_heal_runs(runs, {**HEAL, "patch": {**HEAL["patch"], "enabled": False}})
    assert [r.key for r in lora_only] == ["drop-1+lora", "drop-2+lora"]
    model, tok = make_tiny_llm(None, n_layers=4, hidden=32)
    first = {"x": {"per_layer": [], "ranking": [], "selected": {"0.25": [0]}}}
    with pytest.raises(PipelineError, match=r"evaluate_pruning.heal \(x at 0.25\): .*first layer, which is protected"):
        run_sweep(model, tok, first, {}, ".", heal=HEAL, decision_ratio=0.25, calibration=torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(PipelineError, match="no calibration windows"):
        run_sweep(model, tok, HEAL_SCORES, {}, ".", heal=HEAL, decision_ratio=0.25, calibration=None)


def test_a_calibration_budget_of_zero_is_refused_when_params_are_parsed():
    import yaml

    from pipeutil.params import validate_params

    root = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((root / "params.yaml").read_text())
    validate_params(params, root / "workflow" / "schemas")
    params["evaluate_pruning"]["heal"]["patch"]["n_samples"] = 0
    with pytest.raises(PipelineError, match=r"evaluate_pruning\.heal\.patch\.n_samples"):
        validate_params(params, root / "workflow" / "schemas")


def _lora_cfg(**kw):
    from avss.pruning.lora_heal import LoraHealConfig

    base = {"tokens": 4 * 2 * 16, "batch_size": 2, "rank": 2, "alpha": 4.0, "lr": 1e-2, "distill": 0.5, "save_every": 1,
            "target_modules": ("q_proj", "v_proj", "down_proj")}
    return LoraHealConfig(**{**base, **kw})


def test_lora_heal_is_seeded_resumable_and_merged(tmp_path):
    import copy

    from avss.pruning.lora_heal import STATE_FILE, lora_heal
    from avss.surgery import prune_layers

    dense, _ = make_tiny_llm(None, n_layers=4, hidden=32)
    windows = torch.cat(_batches(n=6, t=16))  # [6, 16]
    cfg = _lora_cfg()
    assert cfg.steps(16) == 4
    full, rec = lora_heal(prune_layers(copy.deepcopy(dense), [2]), windows, cfg, teacher=dense, state_dir=tmp_path / "a")
    assert rec["steps"] == rec["done"] == 4 and len(rec["history"]) == 4 and not (tmp_path / "a").exists()
    assert type(full).__name__ == "LlamaForCausalLM" and full.config.num_hidden_layers == 3  # merged, plain model
    assert not any("lora" in n for n, _ in full.named_parameters())
    # interrupted after 2 steps, then resumed from the safetensors state: the same weights as the uninterrupted run
    _, part = lora_heal(prune_layers(copy.deepcopy(dense), [2]), windows, cfg, teacher=dense,
                        state_dir=tmp_path / "b", max_steps=2)
    assert part["done"] == 2 and (tmp_path / "b" / STATE_FILE).is_file()
    resumed, rec2 = lora_heal(prune_layers(copy.deepcopy(dense), [2]), windows, cfg, teacher=dense,
                              state_dir=tmp_path / "b")
    assert [h["step"] for h in rec2["history"]] == [1, 2, 3, 4] and rec2["history"] == rec["history"]
    for (n, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=n)
    pruned = prune_layers(copy.deepcopy(dense), [2])
    changed = [n for (n, a), (_, b) in zip(full.state_dict().items(), pruned.state_dict().items()) if not torch.equal(a, b)]
    assert changed and all(any(m in n for m in cfg.target_modules) for n in changed)  # only adapted modules moved
    assert all(p.dtype == torch.float32 for p in full.parameters())


def test_lora_heal_saves_and_loads_with_from_pretrained(tmp_path):
    import copy

    from avss.pruning.lora_heal import lora_heal
    from avss.surgery import prune_layers

    dense, tok = make_tiny_llm(None, n_layers=4, hidden=32)
    healed, _ = lora_heal(prune_layers(copy.deepcopy(dense), [1]), torch.cat(_batches(t=16)), _lora_cfg(distill=0.0))
    healed.save_pretrained(tmp_path / "healed")
    tok.save_pretrained(tmp_path / "healed")
    loaded, _ = load_pretrained(tmp_path / "healed")
    with torch.no_grad():
        torch.testing.assert_close(loaded(IDS).logits, healed(IDS).logits)
    assert torch.equal(greedy(loaded, IDS, 6, use_cache=True), greedy(loaded, IDS, 6, use_cache=False))


def test_lora_heal_bad_input(tmp_path):
    import copy

    from avss.pruning.lora_heal import lora_heal

    dense, _ = make_tiny_llm(None, n_layers=4, hidden=32)
    windows = torch.cat(_batches(t=16))
    with pytest.raises(PipelineError, match=r"heal\.lora\.tokens: a token budget of 0"):
        lora_heal(copy.deepcopy(dense), windows, _lora_cfg(tokens=0))
    with pytest.raises(PipelineError, match=r"heal\.lora\.target_modules"):
        lora_heal(copy.deepcopy(dense), windows, _lora_cfg(target_modules=("no_such_proj",)))
    with pytest.raises(PipelineError, match=r"heal\.lora\.distill"):
        lora_heal(copy.deepcopy(dense), windows, _lora_cfg(distill=1.5))
    cfg = _lora_cfg()
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "state.safetensors").write_text("not safetensors")  # a damaged state of this configuration
    key = {"cfg": dataclasses.asdict(cfg), "windows": list(windows.shape)}
    (tmp_path / "s" / "state.json").write_text(json.dumps({"key": key, "step": 1}))
    with pytest.raises(PipelineError, match="unreadable resume state"):
        lora_heal(copy.deepcopy(dense), windows, cfg, state_dir=tmp_path / "s")
