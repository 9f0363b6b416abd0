"""HFBackend on tiny random models: log-likelihoods equal a plain forward, batching and padding change nothing."""
import pytest
import torch
from tiny_llm import make_tiny_llm

from avss.evaluation.backends import DummyBackend, HFBackend, cut_at_stop
from avss.evaluation.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    RollingRequest,
)

CTX = "Question: What is the boiling point of water? The capital of France is Paris. Answer:"
CONTS = [" 100 degrees Celsius", " Paris", " the planet closest to the sun", " no"]


@pytest.fixture(scope="module")
def llama():
    return make_tiny_llm(n_layers=2, arch="llama", hidden=32)


def plain_logprob(model, ctx_ids, cont_ids):
    ids = torch.tensor([ctx_ids + cont_ids])  # (1, T)
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].float(), -1)  # (T, V)
    start = len(ctx_ids) - 1
    return sum(logp[start + j, t].item() for j, t in enumerate(cont_ids))


def test_loglikelihood_equals_plain_forward(llama):
    model, tok = llama
    be = HFBackend(model, tok, batch_size=1, share_prefix_min_tokens=0, progress=False)
    reqs = [LoglikelihoodRequest(CTX, c) for c in CONTS] + [LoglikelihoodRequest("", "Paris is a city")]
    got = be.loglikelihood(reqs)
    for req, (ll, _) in zip(reqs, got):
        ctx, cont = be.encode_pair(req.context, req.continuation)
        assert ll == pytest.approx(plain_logprob(model, ctx, cont), abs=1e-4)
    assert be.encode_pair("", "x")[0] == [tok.bos_token_id]  # empty context -> prefix token


def test_harness_split_moves_trailing_space(llama):
    model, tok = llama
    be = HFBackend(model, tok, progress=False)
    assert be.encode_pair("Answer: ", "Paris") == be.encode_pair("Answer:", " Paris")
    ctx, cont = be.encode_pair("Answer:", " Paris")
    assert ctx + cont == be.encode("Answer: Paris")


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batched_tokenisation_equals_one_call_per_text(arch):
    _, tok = make_tiny_llm(n_layers=2, arch=arch, hidden=32)
    be = HFBackend(make_tiny_llm(n_layers=2, arch=arch, hidden=32)[0], tok, progress=False)
    pairs = [(CTX, c) for c in CONTS] + [("Answer: ", "Paris"), ("", "Paris is a city"), (CTX + "  ", "x"), (CTX, CONTS[1])]
    expected = []
    for ctx, cont in pairs:  # the harness split, one tokenizer call per text
        stripped = ctx.rstrip()
        cont = ctx[len(stripped):] + cont
        if not stripped:
            expected.append(([be.prefix_id], be.encode(cont)))
            continue
        c = be.encode(stripped)
        expected.append((c, be.encode(stripped + cont)[len(c):]))
    assert be.encode_pairs(pairs) == expected
    assert [be.encode_pair(c, x) for c, x in pairs] == expected
    texts = [CTX, "Paris", CTX, "", " no"]
    assert be.encode_many(texts) == [be.encode(t) for t in texts] and be.encode_many([]) == []


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_a_primer_shared_by_every_document_runs_once_and_changes_no_score(arch):
    model, tok = make_tiny_llm(n_layers=2, arch=arch, hidden=32)
    primer = "Q: What is the capital of France?\nA: Paris.\n\nQ: How many legs has a spider?\nA: Eight.\n\n"
    questions = ["Q: What is the boiling point of water?\nA:", "Q: Who wrote Hamlet?\nA:", "Q: What is 2 + 2?\nA:"]
    reqs = [LoglikelihoodRequest(primer + q, c) for q in questions for c in CONTS]
    reqs += [LoglikelihoodRequest(CTX, c) for c in CONTS] + [LoglikelihoodRequest("The capital", " of Italy")]  # another task
    plain = HFBackend(model, tok, batch_size=1, share_prefix_min_tokens=0, progress=False)
    shared = HFBackend(model, tok, batch_size=2, max_batch_tokens=64, progress=False)
    n_primer = len(shared.encode(primer.rstrip()))
    groups = shared._prefix_groups(shared.pack_pairs(shared.encode_pairs([(r.context, r.continuation) for r in reqs])))
    assert [len(g) for _, g in groups] == [3, 2] and len(groups[0][0]) >= n_primer - 1 and groups[1][0] == []
    for a, b in zip(plain.loglikelihood(reqs), shared.loglikelihood(reqs)):
        assert b[0] == pytest.approx(a[0], abs=1e-4) and a[1] == b[1]
    assert shared.stats["tokens"] < plain.stats["tokens"] / 2  # the primer once, each question once
    assert shared._shared is None  # the cache does not outlive the call
    # rows without a common primer of SHARED_ROWS_MIN tokens: nothing cached
    assert shared._rows_prefix(shared.pack_pairs(shared.encode_pairs([(CTX, CONTS[0]), ("The capital", " of Italy")]))) == []


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batched_and_shared_prefix_equal_unbatched(arch):
    model, tok = make_tiny_llm(n_layers=2, arch=arch, hidden=32)
    reqs = [LoglikelihoodRequest(CTX, c) for c in CONTS] + [LoglikelihoodRequest("The capital", " of Italy is Rome")]
    one = HFBackend(model, tok, batch_size=1, share_prefix_min_tokens=0, progress=False).loglikelihood(reqs)
    batched = HFBackend(model, tok, batch_size=4, share_prefix_min_tokens=0, progress=False).loglikelihood(reqs)
    shared = HFBackend(model, tok, batch_size=4, share_prefix_min_tokens=4, progress=False).loglikelihood(reqs)
    for a, b, c in zip(one, batched, shared):
        assert b[0] == pytest.approx(a[0], abs=1e-4) and c[0] == pytest.approx(a[0], abs=1e-4)
        assert a[1] == b[1] == c[1]


def test_rolling_equals_plain_forward_and_windows(llama):
    model, tok = llama
    text = "The capital of France is Paris. The capital of Italy is Rome. " * 3
    be = HFBackend(model, tok, batch_size=2, progress=False)
    ll, n = be.loglikelihood_rolling([RollingRequest(text)])[0]
    toks = be.encode(text)
    assert n == len(toks)
    assert ll == pytest.approx(plain_logprob(model, [tok.bos_token_id], toks), abs=1e-3)
    # disjoint windows of 16 tokens: each window is conditioned only on the token before it
    small = HFBackend(model, tok, batch_size=3, max_length=16, progress=False)
    ll16, n16 = small.loglikelihood_rolling([RollingRequest(text)])[0]
    full = [tok.bos_token_id] + toks
    expect = sum(plain_logprob(model, [full[s]], toks[s:s + 16]) for s in range(0, len(toks), 16))
    assert n16 == len(toks) and ll16 == pytest.approx(expect, abs=1e-3)


def test_generate_until_stops_and_left_padding(llama):
    model, tok = llama
    be = HFBackend(model, tok, batch_size=1, progress=False)
    prompts = ["The capital of France is", "Question: What is the boiling point of water? Answer:", "It"]
    free = be.generate_until([GenerateRequest(p, ("<never>",), 10) for p in prompts])
    batched = HFBackend(model, tok, batch_size=3, progress=False).generate_until(
        [GenerateRequest(p, ("<never>",), 10) for p in prompts])
    assert batched == free  # left padding does not change greedy outputs
    text = free[0]
    assert len(text) > 2
    stop = text[len(text) // 2]  # a character the model is known to produce
    cut = be.generate_until([GenerateRequest(prompts[0], (stop,), 10)])[0]
    assert cut == text[:text.index(stop)] and stop not in cut


def test_cut_at_stop_and_dummy_backend():
    assert cut_at_stop("Paris, France.\nMore", ("\n", ".", ",")) == "Paris"
    assert cut_at_stop("Paris", ("\n",)) == "Paris"
    be = DummyBackend(gen_fn=lambda ctx: "Rome. Italy")
    assert be.generate_until([GenerateRequest("q", (".",), 4)]) == ["Rome"]
    a = be.loglikelihood([LoglikelihoodRequest("a", " b")])
    assert a == be.loglikelihood([LoglikelihoodRequest("a", " b")])  # deterministic
    assert be.calls == [("generate_until", 1), ("loglikelihood", 1), ("loglikelihood", 1)]


def test_load_hf_backend_from_folder_and_bad_folder(tmp_path):
    from avss.hf_backend import load_hf_backend
    from pipeutil.io import PipelineError

    model, tok = make_tiny_llm(tmp_path / "m", n_layers=2, arch="llama", hidden=32)
    be = load_hf_backend(str(tmp_path / "m"), device="cpu", batch_size=2, progress=False)
    req = [LoglikelihoodRequest("The capital of France is", " Paris")]
    ref = HFBackend(model, tok, progress=False).loglikelihood(req)
    assert be.loglikelihood(req)[0][0] == pytest.approx(ref[0][0], abs=1e-5)
    with pytest.raises(PipelineError, match="not a loadable"):
        load_hf_backend(str(tmp_path / "missing"), device="cpu")


PRIMER = ("Question: What is the boiling point of water?\nAnswer: 100 degrees Celsius\n\n"
          "Question: What is the capital of France?\nAnswer: Paris\n\n")


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_packed_prefix_tree_equals_one_sequence_per_request(arch):
    """Choices sharing a context are packed into one row (tree mask, own position ids): same numbers
    as one forward per request, with far fewer tokens; single-token choices need only the context."""
    model, tok = make_tiny_llm(n_layers=2, arch=arch, hidden=32)
    reqs = [LoglikelihoodRequest(CTX, c) for c in CONTS]  # multi-token choices
    reqs += [LoglikelihoodRequest("It was a wonderful film.\nAnswer:", c) for c in (" positive", " negative")]
    reqs += [LoglikelihoodRequest("The capital", " of Italy is Rome"), LoglikelihoodRequest("", "Paris is a city")]
    reqs += [LoglikelihoodRequest(CTX, CONTS[1])]  # a duplicate request
    plain = HFBackend(model, tok, batch_size=1, share_prefix_min_tokens=0, progress=False)
    packed = HFBackend(model, tok, batch_size=3, share_prefix_min_tokens=1, progress=False)
    want, got = plain.loglikelihood(reqs), packed.loglikelihood(reqs)
    for req, a, b in zip(reqs, want, got):
        ctx, cont = plain.encode_pair(req.context, req.continuation)
        assert a[0] == pytest.approx(plain_logprob(model, ctx, cont), abs=1e-4)
        assert b[0] == pytest.approx(a[0], abs=1e-4) and a[1] == b[1]
    assert packed.stats["rows"] == 4  # CTX, the film context, "The capital", the empty context
    assert packed.stats["tokens"] < 0.5 * plain.stats["tokens"]
    one = packed.pack_pairs([([5, 6, 7], [8]), ([5, 6, 7], [9])])  # single-token choices: the context alone
    assert len(one) == 1 and one[0].tokens == [5, 6, 7] and [t[1] for t in one[0].targets] == [[2], [2]]
    tree = packed.pack_pairs([([5, 6, 7], [8, 10, 11]), ([5, 6, 7], [9, 12])])
    assert tree[0].tokens == [5, 6, 7, 8, 10, 9] and tree[0].positions == [0, 1, 2, 3, 4, 3]
    assert tree[0].segments == [0, 0, 0, 1, 1, 2] and [t[1] for t in tree[0].targets] == [[2, 3, 4], [2, 5]]


def test_rows_longer_than_max_length_fall_back_to_truncated_sequences(llama):
    model, tok = llama
    long_ctx = CTX * 3
    reqs = [LoglikelihoodRequest(long_ctx, c) for c in CONTS]
    small = HFBackend(model, tok, batch_size=2, max_length=40, progress=False)
    plain = HFBackend(model, tok, batch_size=1, max_length=40, share_prefix_min_tokens=0, progress=False)
    for a, b in zip(small.loglikelihood(reqs), plain.loglikelihood(reqs)):
        assert a[0] == pytest.approx(b[0], abs=1e-4)
    ctx, cont = small.encode_pair(long_ctx, CONTS[0])
    seq = (ctx + cont)[-41:]  # the harness's left truncation to max_length + 1 tokens
    assert small.loglikelihood(reqs[:1])[0][0] == pytest.approx(plain_logprob(model, seq[:-len(cont)], cont), abs=1e-4)


def test_token_budget_splits_batches(llama):
    model, tok = llama
    reqs = [LoglikelihoodRequest(CTX + " " + str(i), " Paris") for i in range(6)]
    be = HFBackend(model, tok, batch_size=64, max_batch_tokens=50, progress=False)
    ref = HFBackend(model, tok, batch_size=1, share_prefix_min_tokens=0, progress=False).loglikelihood(reqs)
    got = be.loglikelihood(reqs)
    assert be.stats["forward_calls"] >= 3  # rows of ~20 tokens, at most 50 padded tokens per pass
    assert [g[0] for g in got] == pytest.approx([r[0] for r in ref], abs=1e-4)


def test_rows_of_very_different_lengths_are_not_padded_into_one_batch(llama):
    model, tok = llama
    reqs = [LoglikelihoodRequest(CTX + " word" * k, " Paris") for k in (0, 1, 2, 12, 13, 30)]
    be = HFBackend(model, tok, batch_size=64, max_batch_tokens=10**6, progress=False)
    rows = be.pack_pairs([be.encode_pair(r.context, r.continuation) for r in reqs])
    batches = be._batches(rows)
    assert sorted(len(r.tokens) for b in batches for r in b) == sorted(len(r.tokens) for r in rows)
    assert all(len(r.tokens) >= be.min_fill * len(b[0].tokens) for b in batches for r in b)
    loose = HFBackend(model, tok, batch_size=64, max_batch_tokens=10**6, progress=False)
    loose.min_fill = 0.0
    assert len(loose._batches(rows)) == 1 < len(batches)  # the token budget alone would pad them into one
    ref = HFBackend(model, tok, batch_size=1, progress=False).loglikelihood(reqs)
    assert [g[0] for g in be.loglikelihood(reqs)] == pytest.approx([r[0] for r in ref], abs=1e-4)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_generation_reuses_the_shared_prefix_and_equals_hf_generate(arch):
    model, tok = make_tiny_llm(n_layers=2, arch=arch, hidden=32)
    questions = ["What is the capital of Italy?", "Where is Paris?", "Is it positive?", "What converts light?"]
    reqs = [GenerateRequest(PRIMER + f"Question: {q}\nAnswer:", ("<never>",), 6) for q in questions]
    shared = HFBackend(model, tok, batch_size=3, progress=False)
    alone = HFBackend(model, tok, batch_size=1, share_prefix_min_tokens=0, progress=False)
    got = shared.generate_until(reqs)
    assert got == alone.generate_until(reqs)
    for req, text in zip(reqs, got):  # greedy tokens of transformers' own generate
        ids = torch.tensor([alone.encode(req.context)])
        ref = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        assert text == tok.decode(ref[0, ids.shape[1]:], skip_special_tokens=True)
    n_primer = len(shared._common_prefix([shared.encode(r.context) for r in reqs]))
    assert n_primer >= len(shared.encode(PRIMER)) - 1
    assert shared.stats["tokens"] < alone.stats["tokens"] - 2 * n_primer  # the primer ran once, not 4 times
    stop = got[0][len(got[0]) // 2] if len(got[0]) > 1 else None
    if stop:
        cut = shared.generate_until([GenerateRequest(reqs[0].context, (stop,), 6)] + reqs[1:])
        assert cut[0] == got[0][:got[0].index(stop)] and cut[1:] == got[1:]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batches_on_worker_threads_give_the_numbers_of_one_batch_at_a_time(arch):
    """workers=2: two log-likelihood batches at once, one torch thread each; every score, greedy flag, generated
    text and counter equals one batch at a time on one thread, the choice forwards ran on the worker threads,
    and the process's torch thread count is restored."""
    model, tok = make_tiny_llm(n_layers=2, arch=arch, hidden=32)
    primer = "Q: What is the capital of France?\nA: Paris.\n\nQ: How many legs has a spider?\nA: Eight.\n\n"
    questions = ["Q: What is the boiling point of water?\nA:", "Q: Who wrote Hamlet?\nA:", "Q: What is 2 + 2?\nA:"]
    ll = [LoglikelihoodRequest(primer + q, c) for q in questions for c in CONTS]  # a cached primer group
    ll += [LoglikelihoodRequest(CTX[: 20 + 7 * k], c) for k in range(6) for c in CONTS]  # rows of several widths
    rolling = [RollingRequest(CTX * k) for k in (1, 2, 3)]
    gen = [GenerateRequest(PRIMER + f"Question: {q}\nAnswer:", ("<never>",), 5) for q in questions + ["Why?", "Who?"]]
    threads = []
    hook = model.register_forward_pre_hook(lambda *_: threads.append(__import__("threading").current_thread().name))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        def run(workers):
            backend = HFBackend(model, tok, batch_size=2, max_batch_tokens=96, max_length=24, progress=False,
                                workers=workers)
            threads.clear()
            out = (backend.loglikelihood(ll), backend.loglikelihood_rolling(rolling), backend.generate_until(gen))
            return out, backend.stats, list(threads)

        one, stats_one, threads_one = run(1)
        two, stats_two, threads_two = run(2)  # groups of few batches run one at a time on the process's 1 thread
        torch.set_num_threads(2)
        approx, _, _ = run(2)
        assert torch.get_num_threads() == 2  # restored after each call
    finally:
        hook.remove()
        torch.set_num_threads(before)
    assert two == one and stats_two == stats_one
    assert stats_one["forward_calls"] >= 6  # enough batches for two at once
    assert not any(t.startswith("hfbackend") for t in threads_one)
    n_ll = HFBackend(model, tok, batch_size=2, max_batch_tokens=96, max_length=24, progress=False)
    n_ll.loglikelihood(ll)
    assert n_ll.stats["forward_calls"] >= 4  # enough choice batches for two at once
    assert sum(t.startswith("hfbackend") for t in threads_two) >= n_ll.stats["forward_calls"] // 2  # not groups of < 4
    for (a, ga), (b, gb) in zip(one[0] + one[1], approx[0] + approx[1]):
        assert b == pytest.approx(a, abs=1e-4) and ga == gb
    assert approx[2] == one[2]
    with pytest.raises(ValueError, match="workers"):
        HFBackend(model, tok, workers=0)
