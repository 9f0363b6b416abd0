"""Contrastive fine-tuning: only selected layers change, resume == uninterrupted, LoRA merges, bad input."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from tiny_llm import make_tiny_llm

import avss.finetune.train as ft
from avss.eavss.samples import HallucItem
from avss.finetune.data import TrainQuestion, batch_for_step, encode, group_questions
from avss.finetune.train import FinetuneConfig, check_finetuned, run_finetune
from pipeutil.io import PipelineError

QS = [TrainQuestion(f"d/{i}", f"What is {i}?", (f"It is {i}.",), (f"It is {i + 1}.", "No idea")) for i in range(8)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    make_tiny_llm(folder, n_layers=4)
    return folder


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_only_selected_layers_change(tiny, tmp_path):
    run_finetune(str(tiny), QS, [1, 3], str(tmp_path / "out"), str(tmp_path / "st"), FinetuneConfig(steps=3))
    before, after = _weights(tiny), _weights(tmp_path / "out")
    changed = {k.split(".")[2] for k in before if "layers." in k and not torch.equal(before[k], after[k])}
    assert changed == {"1", "3"}
    assert all(torch.equal(before[k], after[k]) for k in before if "layers." not in k)
    info = json.loads((tmp_path / "out" / "finetune.json").read_text())
    assert info["layers"] == [1, 3] and info["steps_done"] == 3 and len(info["history"]) == 3
    assert not (tmp_path / "st").exists()


def test_resume_matches_uninterrupted(tiny, tmp_path, monkeypatch):
    cfg = FinetuneConfig(steps=5, save_every=2)
    run_finetune(str(tiny), QS, [2], str(tmp_path / "full"), str(tmp_path / "st1"), cfg)
    real, calls = ft.train_step, {"n": 0}

    def crash(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(ft, "train_step", crash)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(str(tiny), QS, [2], str(tmp_path / "res"), str(tmp_path / "st2"), cfg)
    assert not (tmp_path / "res").exists() and (tmp_path / "st2" / "meta.json").is_file()
    assert json.loads((tmp_path / "st2" / "meta.json").read_text())["step"] == 2
    monkeypatch.setattr(ft, "train_step", real)
    info = run_finetune(str(tiny), QS, [2], str(tmp_path / "res"), str(tmp_path / "st2"), cfg)
    assert info["steps_done"] == 5
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "res")
    assert all(torch.equal(a[k], b[k]) for k in a)  # exact: parameters, AdamW moments and RNG restored


def test_resume_state_of_other_model_is_refused(tiny, tmp_path, monkeypatch):
    other = tmp_path / "other"
    make_tiny_llm(other, n_layers=4, seed=1)
    real, calls = ft.train_step, {"n": 0}

    def crash(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(ft, "train_step", crash)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(str(other), QS, [2], str(tmp_path / "o"), str(tmp_path / "st"), FinetuneConfig(steps=4, save_every=2))
    monkeypatch.setattr(ft, "train_step", real)
    with pytest.raises(PipelineError, match="different model"):
        run_finetune(str(tiny), QS, [2], str(tmp_path / "o"), str(tmp_path / "st"), FinetuneConfig(steps=4, save_every=2))
    assert not (tmp_path / "o").exists()


def test_checkpoint_of_other_model_is_refused(tiny, tmp_path):
    other = tmp_path / "other"
    make_tiny_llm(other, n_layers=4, seed=1)
    run_finetune(str(other), QS, [0], str(tmp_path / "o"), str(tmp_path / "st"), FinetuneConfig(steps=1))
    assert check_finetuned(tmp_path / "o", other)["layers"] == [0]
    with pytest.raises(PipelineError, match="different model"):
        check_finetuned(tmp_path / "o", tiny)


def test_lora_merges_into_plain_folder(tiny, tmp_path):
    info = run_finetune(str(tiny), QS, [0, 1], str(tmp_path / "l"), str(tmp_path / "st"),
                        FinetuneConfig(steps=3, method="lora", lora_rank=2, lr=1e-2))
    after = _weights(tmp_path / "l")
    assert not any("lora" in k for k in after)
    before = _weights(tiny)
    changed = {k.split(".")[2] for k in before if "layers." in k and not torch.equal(before[k], after[k])}
    assert changed == {"0", "1"}
    assert info["trainable_parameters"] < sum(v.numel() for k, v in before.items() if "layers.0." in k)


@pytest.mark.parametrize("layers", [[4], [], [1, 1], [-1]])
def test_bad_layers(tiny, tmp_path, layers):
    with pytest.raises(PipelineError, match="layers"):
        run_finetune(str(tiny), QS, layers, str(tmp_path / "o"), str(tmp_path / "st"), FinetuneConfig(steps=1))
    assert not (tmp_path / "o").exists()


def test_infonce_prefers_aligned_answers():
    torch.manual_seed(0)
    enc = encode(_tok(), [("q a", "yes", ["no"]), ("q b", "true", ["false"])], 32)
    r, t = enc.input_ids.shape
    h = torch.randn(r, t, 8)
    q = ft.masked_mean(h[enc.q_rows], enc.q_mask[enc.q_rows])
    good = h.clone()
    for g, a in enumerate(enc.pos_rows.tolist()):  # make each positive answer's tokens equal its question vector
        row = int(enc.a_rows[a])
        good[row] = torch.where(enc.a_mask[a].bool().unsqueeze(-1), q[g], h[row])
    lo = ft.info_nce([good], enc, 0.1, True, False)
    hi = ft.info_nce([h], enc, 0.1, True, False)
    assert lo < hi


@pytest.mark.parametrize("pack", [True, False])
def test_encode_masks_and_labels(pack):
    tok = _tok()
    enc = encode(tok, [("What is water?", "wet", ["dry", "hot"])], 16, pack=pack)
    assert enc.input_ids.shape[0] == (1 if pack else 3) and enc.pos_rows.tolist() == [0]
    assert enc.a_rows.tolist() == ([0, 0, 0] if pack else [0, 1, 2]) and enc.q_rows.tolist() == [0]
    for a in range(3):
        row = int(enc.a_rows[a])
        assert not bool((enc.q_mask[row] & enc.a_mask[a]).any())
        n_prompt, n_answer = int(enc.q_mask[row].sum()), int(enc.a_mask[a].sum())
        assert n_prompt + n_answer <= 16  # every (prompt, answer) sequence fits max_length
        # the answer's position ids continue its prompt's, whatever its physical place in the row
        assert enc.position_ids[row][enc.a_mask[a].bool()].tolist() == list(range(n_prompt, n_prompt + n_answer))
    # labels: the positive's tokens, each at the position that predicts it (its previous token)
    pos = enc.a_mask[0].bool()
    labelled = enc.labels[0] != -100
    assert labelled.sum() == pos.sum()
    assert enc.labels[0][labelled].tolist() == enc.input_ids[0][pos].tolist()
    assert bool((enc.labels[1:] == -100).all())


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_packed_batch_gives_the_losses_and_gradients_of_one_sequence_per_answer(tmp_path, arch):
    """The packed layout (prompt once, answers as branches) is an optimisation only: same InfoNCE, LM loss
    and gradients as one causal sequence per (question, answer), when no prompt has to be cut."""
    from transformers import AutoModelForCausalLM

    make_tiny_llm(tmp_path, n_layers=3, arch=arch)
    tok = _tok()
    model = AutoModelForCausalLM.from_pretrained(tmp_path, trust_remote_code=False).float()
    groups = [("What is water made of?", "hydrogen and oxygen", ["fire", "only sand and stones", "air"]),
              ("Who wrote it?", "a poet", ["nobody at all"]),
              ("Is it cold at the poles of the earth in winter?", "yes", ["no, it is hot", "never"])]
    cfg = FinetuneConfig(steps=1)
    layers = [0, 2]
    out = {}
    for pack in (True, False):
        enc = encode(tok, groups, 64, pack=pack)
        params = set_trainable_all(model)
        model.zero_grad(set_to_none=True)
        sl = ft.train_step(model, enc, layers, cfg)
        out[pack] = (sl, [p.grad.clone() for p in params], enc.input_ids.numel())
    (sp, gp, np_), (su, gu, nu) = out[True], out[False]
    assert np_ < nu  # fewer tokens computed
    assert sp.contrastive == pytest.approx(su.contrastive, rel=1e-4, abs=1e-5)
    assert sp.lm == pytest.approx(su.lm, rel=1e-4, abs=1e-5)
    for a, b in zip(gp, gu):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-5)


def set_trainable_all(model):
    params = list(model.parameters())
    for p in params:
        p.requires_grad_(True)
    return params


def test_batches_are_deterministic_and_cover_questions():
    a = [batch_for_step(QS, s, 3, 1, seed=7) for s in range(4)]
    b = [batch_for_step(QS, s, 3, 1, seed=7) for s in range(4)]
    assert a == b
    assert len({q for q, _, _ in a[0] + a[1]}) == 6


def test_group_questions_needs_truthful():
    items = [HallucItem("1/x/0", "1", "d", "q", "a", False, "x")]
    with pytest.raises(PipelineError, match="truthful"):
        group_questions(items)


def _tok():
    from tiny_llm import make_tokenizer
    return make_tokenizer()


class _Planted:
    """A pickle that creates a marker file when unpickled (what a planted state.pt could do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_planted_pickle_in_resume_state_is_never_loaded(tiny, tmp_path):
    cfg = FinetuneConfig(steps=2)
    state = tmp_path / "st"
    state.mkdir()
    layers = [2]
    meta = {"base_fingerprint": ft.model_fingerprint(tiny), "config_key": ft._config_key(cfg, layers), "step": 1,
            "history": [{"step": 1, "loss": 0.0, "contrastive": 0.0, "lm": 0.0}]}
    (state / "meta.json").write_text(json.dumps(meta))
    torch.save({"params": _Planted(tmp_path / "pwned")}, state / "state.pt")
    info = run_finetune(str(tiny), QS, layers, str(tmp_path / "out"), str(state), cfg)
    assert not (tmp_path / "pwned").exists()
    assert info["steps_done"] == 2 and info["history"][0]["loss"] != 0.0  # started over from step 0


def test_resume_state_holds_no_pickle(tiny, tmp_path, monkeypatch):
    real, calls = ft.train_step, {"n": 0}

    def crash(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(ft, "train_step", crash)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(str(tiny), QS, [1], str(tmp_path / "o"), str(tmp_path / "st"), FinetuneConfig(steps=4, save_every=2))
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == ["meta.json", "state.safetensors"]
    load_file(str(tmp_path / "st" / "state.safetensors"))  # plain tensors, no code
