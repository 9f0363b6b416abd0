"""DoLa (decoding by contrasting layers): the contrast, the per-position layer choice, buckets, the backend."""
from __future__ import annotations

import math

import pytest
import torch
from tiny_llm import make_tiny_llm

from avss.dola import IMPLAUSIBLE, DolaLM, contrast, dola_backend, jsd, named_bucket, resolve_bucket
from avss.evaluation.backends import HFBackend
from avss.evaluation.requests import GenerateRequest, LoglikelihoodRequest
from avss.hooks import count_hooks
from pipeutil.io import PipelineError


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_llm(n_layers=4)


def test_uniform_premature_keeps_the_final_ranking_within_the_plausible_set():
    torch.manual_seed(0)
    final = torch.randn(3, 50) * 3  # [K, V]
    score, chosen = contrast(final, [torch.zeros(3, 50)], alpha=0.1)
    lq = torch.log_softmax(final, -1)
    ok = lq >= math.log(0.1) + lq.max(-1, keepdim=True).values
    assert ok.sum(-1).min() >= 1 and (~ok).any()
    assert torch.all(score[~ok] == IMPLAUSIBLE)
    renorm = torch.log_softmax(lq.masked_fill(~ok, -math.inf), -1)  # q_N renormalised over the plausible set
    assert torch.allclose(score[ok], renorm[ok], atol=1e-5)
    assert torch.equal(score.argmax(-1), final.argmax(-1))
    assert torch.equal(chosen, torch.zeros(3, dtype=torch.long))


def test_the_most_divergent_layer_is_chosen_per_position():
    final = torch.tensor([[4.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
    close = final.clone()  # JSD 0 from the final layer
    far = torch.tensor([[0.0, 0.0, 4.0], [4.0, 0.0, 0.0]])  # differs at position 0 only
    _, chosen = contrast(final, [close, far], alpha=0.1)
    assert chosen.tolist() == [1, 0]  # a tie (position 1) keeps the lower candidate
    p = torch.log_softmax(final, -1)
    assert jsd(p, p).abs().max() < 1e-6 and jsd(p, torch.log_softmax(far, -1))[0] > 0.1


def test_contrast_can_reorder_plausible_tokens():
    final = torch.log(torch.tensor([[0.5, 0.4, 0.1 - 1e-6, 1e-6]]))
    premature = torch.log(torch.tensor([[0.7, 0.1, 0.1, 0.1]]))  # the early layer already liked token 0
    score, _ = contrast(final, [premature], alpha=0.1)
    assert score.argmax(-1).item() == 1  # token 1 gained most between the layers
    assert score[0, 3] == IMPLAUSIBLE  # below alpha x max: never chosen, however it contrasts


def test_buckets_and_their_errors():
    assert named_bucket("low", 30) == list(range(15)) and named_bucket("high", 30) == list(range(15, 29))
    assert named_bucket("low", 48) == list(range(0, 24, 2))
    assert resolve_bucket("eavss", 4, "k", selected=[3, 1]) == [1]  # the mature layer is never premature
    assert resolve_bucket([2, 0, 2], 4, "k") == [0, 2]
    with pytest.raises(PipelineError, match=r"evaluate_hallucination\.dola\.buckets\.x: layer\(s\) \[7\]"):
        resolve_bucket([1, 7], 4, "evaluate_hallucination.dola.buckets.x")
    with pytest.raises(PipelineError, match="no candidate layer"):
        resolve_bucket("eavss", 4, "k", selected=[3])
    with pytest.raises(PipelineError, match="needs the fold's EAVSS"):
        resolve_bucket("eavss", 4, "k")
    with pytest.raises(PipelineError, match="is not 'low'"):
        resolve_bucket("middle", 4, "k")
    with pytest.raises(PipelineError, match="alpha"):
        contrast(torch.zeros(1, 3), [torch.zeros(1, 3)], alpha=0.0)


def test_wrapper_matches_a_manual_early_exit_and_detaches_its_hooks(tiny):
    model, tok = tiny
    ids = torch.tensor([tok("The capital of France is")["input_ids"]])
    dola = DolaLM(model, [0, 2], alpha=0.1)
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
        # hidden_states[j + 1] is the output of block j (before the final norm) for j < L - 1
        early = [model.lm_head(model.model.norm(out.hidden_states[j + 1][:, -2:])) for j in (0, 2)]
        want, _ = contrast(out.logits[:, -2:], early, 0.1)
        hooks = count_hooks(model)  # transformers attaches recorder hooks of its own on first use
        got = dola(input_ids=ids, logits_to_keep=2).logits  # [1, 2, V]
    assert torch.allclose(got, want, atol=1e-5)
    assert count_hooks(model) == hooks and sum(dola.chosen) == 2
    with pytest.raises(PipelineError, match=r"dola\.layers: layer\(s\) \[3\]"):
        DolaLM(model, [3])


def test_backend_scores_and_greedy_generation_agree(tiny):
    model, tok = tiny
    hooks = count_hooks(model)
    plain = HFBackend(model, tok, progress=False)
    dola = dola_backend(model, tok, [0, 1], alpha=0.1, progress=False)
    ctx = "Question: What is the capital of France?\nAnswer:"
    text = dola.generate_until([GenerateRequest(ctx, until=("\n",), max_new_tokens=5)])[0]
    cached = dola.generate_until([GenerateRequest(ctx, until=("\n",), max_new_tokens=5),
                                  GenerateRequest(ctx + " It", until=("\n",), max_new_tokens=5)])[0]
    assert text == cached  # a batch with a shared prefix cache decodes the same tokens
    (ll, greedy), = dola.loglikelihood([LoglikelihoodRequest(ctx, text)])
    assert text and greedy and math.isfinite(ll) and ll <= 0.0
    # with alpha = 1 only the final layer's argmax is plausible: DoLa's greedy answer is the model's
    one = dola_backend(model, tok, [0, 1], alpha=1.0, progress=False)
    assert one.generate_until([GenerateRequest(ctx, max_new_tokens=5)]) == \
        plain.generate_until([GenerateRequest(ctx, max_new_tokens=5)])
    assert count_hooks(model) == hooks


TFQA = [{"id": f"tfqa-{i}", "question": f"What is {i}?", "category": "Test", "best_answer": "Paris",
         "true_answers": ["Paris", "It is Paris."], "false_answers": ["Berlin", "Nothing at all."]} for i in range(3)]


@pytest.fixture(scope="module")
def fold_files(tmp_path_factory):
    from pipeutil.io import write_json, write_jsonl
    root = tmp_path_factory.mktemp("dola_run")
    make_tiny_llm(root / "model", n_layers=4)
    write_jsonl(root / "eval" / "truthful_qa.jsonl", TFQA)
    write_json(root / "scores.json", {"n_layers": 4, "folds": {"0": {"selected": [1, 3]}}})
    return root


def test_dola_run_on_a_fold(fold_files):
    from avss.finetune.evaluate import evaluate_dola_run
    out = fold_files / "runs" / "dola_eavss_fold0.json"
    res = evaluate_dola_run(str(fold_files / "model"), "eavss", "eavss", 0.1, 0, str(fold_files / "eval"),
                            {"truthful_qa": {"limit": None}}, str(fold_files / "scores.json"), str(out),
                            backend_opts={"batch_size": 4, "device": "cpu", "progress": False})
    assert out.is_file() and res["variant"] == "dola_eavss" and res["layers"] == [1]  # block 3 is the mature one
    tq = res["results"]["truthful_qa"]
    assert tq["ids"] == ["tfqa-0", "tfqa-1", "tfqa-2"] and len(tq["items"]["mc1"]) == 3
    assert sum(res["dola"]["premature_counts"].values()) > 0


def test_dola_bucket_naming_a_missing_layer_writes_nothing(fold_files):
    from avss.finetune.evaluate import evaluate_dola_run
    out = fold_files / "runs_bad" / "dola_deep_fold0.json"
    with pytest.raises(PipelineError, match=r"evaluate_hallucination\.dola\.buckets\.deep: layer\(s\) \[9\] "
                                            r"not in 0\.\.2 \(the model has 4 decoder layers"):
        evaluate_dola_run(str(fold_files / "model"), "deep", [1, 9], 0.1, 0, str(fold_files / "eval"),
                          {"truthful_qa": {"limit": None}}, None, str(out), backend_opts={"device": "cpu"})
    assert not out.exists() and not out.parent.exists()
