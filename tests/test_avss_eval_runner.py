"""Tasks (prompts, chance levels), the runner with the dummy backend, task loading, sweep and report."""
import json
import math

import pytest
from tiny_llm import make_tiny_llm

from avss.evaluation.backends import DummyBackend
from avss.evaluation.runner import draw_docs, evaluate, load_tasks, subsample
from avss.evaluation.tasks import SST2, NQOpen, SciQ, TriviaQA, TruthfulQA, WikiPerplexity, WikiQA, split_text
from avss.pruning.report import summary_markdown, table_rows, write_report
from avss.pruning.sweep import plan_runs, read_scores, run_sweep
from avss.pruning.uncertainty import Resampler
from pipeutil.io import PipelineError, write_jsonl

SCIQ = {"id": "s1", "question": "What gas do plants release?", "context": " Plants make oxygen.",
        "choices": ["nitrogen", "helium", "argon", "oxygen"], "gold": 3}
NQ = {"id": "n1", "question": "who wrote hamlet", "answers": ["William Shakespeare", "Shakespeare"]}
TQA = {"id": "t1", "question": "What is the capital of France", "answers": ["Paris", "Paree"]}
SST = {"id": "p1", "text": "a wonderful film", "label": 1, "label_names": ["negative", "positive"]}
TRUTH = {"id": "q1", "question": "Is the earth flat?", "category": "x", "best_answer": "No, it is round.",
         "true_answers": ["No, it is round.", "No."], "false_answers": ["Yes, it is flat."]}
WIKIQA = {"id": "w1", "question": "what is rome", "candidates": ["Rome is a city.", "Bananas.", "Rome is old."],
          "labels": [1, 0, 1]}
WIKI_TEXT = " ".join(f"w{i}" for i in range(40)) + "\nlast line here"


def make_datasets(folder, n=6):
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "sciq.jsonl", [{**SCIQ, "id": f"s{i}"} for i in range(n)])
    write_jsonl(folder / "nq_open.jsonl", [{**NQ, "id": f"n{i}"} for i in range(n)])
    write_jsonl(folder / "trivia_qa.jsonl", [{**TQA, "id": f"t{i}"} for i in range(n)])
    write_jsonl(folder / "sst2.jsonl", [{**SST, "id": f"p{i}", "label": i % 2} for i in range(n)])
    write_jsonl(folder / "truthful_qa.jsonl", [{**TRUTH, "id": f"q{i}"} for i in range(n)])
    write_jsonl(folder / "wikiqa.jsonl", [{**WIKIQA, "id": f"w{i}"} for i in range(n)])
    (folder / "wiki.txt").write_text(WIKI_TEXT * 5)
    return folder


def test_prompts_follow_the_harness():
    assert SciQ([SCIQ]).requests(SCIQ)[3].context == "Plants make oxygen.\nQuestion: What gas do plants release?\nAnswer:"
    assert SciQ([SCIQ]).requests(SCIQ)[3].continuation == " oxygen"
    assert SST2([SST]).requests(SST)[1].context == "a wonderful film\nQuestion: Is this sentence positive or negative?\nAnswer:"
    req = NQOpen([NQ]).requests(NQ)[0]
    assert req.context == "Answer these questions:\n\nQ: who wrote hamlet?\nA:" and req.until == ("\n", ".", ",")
    assert TriviaQA([TQA]).requests(TQA)[0].context == "Question: What is the capital of France?\nAnswer:"
    treq = TruthfulQA([TRUTH]).requests(TRUTH)
    assert treq[0].context.startswith("Q: What is human life expectancy in the United States?\nA: Human life")
    assert treq[0].context.endswith("Barcelona, Spain.\n\nQ: Is the earth flat?\nA:")
    assert [r.continuation for r in treq] == [" No, it is round.", " Yes, it is flat.", " No, it is round.", " No.",
                                             " Yes, it is flat."]


def test_chance_levels():
    assert SciQ([SCIQ]).chance() == {"acc": 0.25, "acc_norm": 0.25}
    assert SST2([SST]).chance() == {"acc": 0.5}
    assert TruthfulQA([TRUTH]).chance() == {"mc1": 0.5, "mc2": pytest.approx(2 / 3)}
    assert WikiQA([WIKIQA]).chance()["top1_acc"] == pytest.approx(2 / 3)
    assert NQOpen([NQ]).chance() == {"exact_match": 0.0}
    assert WikiPerplexity([{"text": "a b"}]).chance()["word_perplexity"] is None


def good_ll(ctx, cont):
    good = {" oxygen", " positive", " No, it is round.", " No.", " Rome is a city.", " Rome is old."}
    return -1.0 if cont in good else -5.0


def test_runner_groups_requests_by_kind_and_scores():
    tasks = [SciQ([SCIQ] * 3), NQOpen([NQ] * 2), TriviaQA([TQA]), SST2([SST]), TruthfulQA([TRUTH]),
             WikiQA([WIKIQA, {**WIKIQA, "labels": [0, 0, 0]}]), WikiPerplexity([{"id": "x", "text": "a b c"}])]
    be = DummyBackend(ll_fn=good_ll, gen_fn=lambda ctx: " the Shakespeare, wrote" if "hamlet" in ctx else "Lyon.")
    res = evaluate(be, tasks, limits={"sciq": 2})
    assert sorted(be.calls) == [("generate_until", 3), ("loglikelihood", 8 + 2 + 5 + 3), ("loglikelihood_rolling", 1)]
    assert res["sciq"].n == 2 and res["sciq"].metrics == {"acc": 1.0, "acc_norm": 1.0}
    assert res["nq_open"].metrics["exact_match"] == 1.0  # article dropped for NQ
    assert res["trivia_qa"].metrics["exact_match"] == 0.0
    assert res["truthful_qa"].metrics["mc1"] == 1.0
    assert res["truthful_qa"].metrics["mc2"] == pytest.approx(2 / (2 + math.exp(-4)))
    assert res["wikiqa"].n == 1 and res["wikiqa"].metrics["map"] == 1.0  # question without answer dropped
    assert res["wiki"].metrics["word_perplexity"] == pytest.approx(math.e)  # dummy: ll = -words
    assert res["sst2"].primary == "acc" and res["wiki"].higher_is_better["word_perplexity"] is False


def test_runner_rejects_empty_tasks():
    with pytest.raises(PipelineError, match="sciq"):
        evaluate(DummyBackend(), [SciQ([])])


def test_split_text_and_subsample():
    docs = split_text("a b\nc d e f g", n_docs=2, words_per_doc=3, from_end=True)
    assert [d["text"] for d in docs] == ["b\nc d", "e f g"]
    assert [d["text"] for d in split_text("a b\nc d e f g", 1, 3, from_end=False)] == ["a b\nc"]
    rows = [{"id": i} for i in range(10)]
    sub = subsample(rows, 4, seed=1)
    assert sub == subsample(rows, 4, seed=1) and len(sub) == 4 and sub == sorted(sub, key=lambda r: r["id"])
    assert subsample(rows, None, 0) == rows


def test_item_sets_are_nested_and_shots_are_never_evaluated():
    rows = [{"id": i} for i in range(100)]
    small, shots = draw_docs(rows, 10, seed=3, n_shots=5)
    large, shots2 = draw_docs(rows, 40, seed=3, n_shots=5)
    assert shots == shots2 and len(shots) == 5
    assert {r["id"] for r in small} < {r["id"] for r in large}  # nested: pairs across item sets
    assert not {r["id"] for r in shots} & {r["id"] for r in large}
    assert large == sorted(large, key=lambda r: r["id"])  # file order
    assert {r["id"] for r in subsample(rows, 10, 1)} < {r["id"] for r in subsample(rows, 30, 1)}
    first_half, _ = draw_docs(rows, None, seed=0, pool=(0.0, 0.5))
    assert [r["id"] for r in first_half] == list(range(50))
    with pytest.raises(PipelineError, match=r"evaluate_pruning.items.decision.sciq.limit: 96 items requested, "
                                            r"but the dataset has 95 \(100 rows"):
        draw_docs(rows, 96, seed=0, n_shots=5, where="evaluate_pruning.items.decision.sciq")
    with pytest.raises(PipelineError, match="pool"):
        draw_docs(rows, 1, seed=0, pool=(0.5, 0.5))


def test_fewshot_primer_follows_the_harness_layout(tmp_path):
    folder = make_datasets(tmp_path / "ds", n=8)
    nq, tqa = load_tasks({"nq_open": {"limit": 3, "fewshot": 2}, "trivia_qa": {"limit": 2, "fewshot": 1}}, folder)
    assert len(nq.shots) == 2 and not {d["id"] for d in nq.shots} & {d["id"] for d in nq.docs}
    ctx = nq.requests(nq.docs[0])[0].context
    assert ctx == ("Answer these questions:\n\n" + "Q: who wrote hamlet?\nA: Shakespeare\n" * 2
                   + "Q: who wrote hamlet?\nA:")
    assert tqa.requests(tqa.docs[0])[0].context == ("Question: What is the capital of France?\nAnswer: Paris\n\n"
                                                     "Question: What is the capital of France?\nAnswer:")
    with pytest.raises(PipelineError, match="sciq.fewshot: only generative tasks"):
        load_tasks({"sciq": {"fewshot": 1}}, folder, where="evaluate_pruning.tasks")
    with pytest.raises(PipelineError, match="wiki.n_docs: 50 documents"):
        load_tasks({"wiki": {"n_docs": 50, "words_per_doc": 10}}, folder)


def test_load_tasks_from_files(tmp_path):
    folder = make_datasets(tmp_path / "ds")
    tasks = load_tasks({"sciq": {"limit": 2}, "nq_open": {"limit": 3, "max_new_tokens": 5},
                        "wiki": {"n_docs": 2, "words_per_doc": 10}}, folder, seed=0)
    assert [len(t.docs) for t in tasks] == [2, 3, 2]
    assert tasks[1].max_new_tokens == 5
    with pytest.raises(PipelineError, match="unknown evaluation task"):
        load_tasks({"sciqq": {}}, folder)
    (folder / "sst2.jsonl").write_text("")
    with pytest.raises(PipelineError, match="no usable documents"):
        load_tasks({"sst2": {}}, folder)
    with pytest.raises(PipelineError, match="not found"):
        load_tasks({"sciq": {}}, tmp_path / "missing")


SCORES = {
    "avss": {"per_layer": [0.1, 0.2, 0.3, 0.4], "ranking": [0, 1, 2, 3], "selected": {"0.25": [0], "0.5": [0, 1]}},
    "last_k": {"per_layer": [0, 0, 0, 1], "ranking": [3, 2, 1, 0], "selected": {"0.25": [3], "0.5": [2, 3]}},
    "random": {"per_layer": [], "ranking": [1, 0, 2, 3], "selected": {"0.25": [0], "0.5": [0, 1]}},
    "meta": "not a method",
}


def test_plan_runs_validates_layers(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(SCORES))
    methods = read_scores(path)
    assert sorted(methods) == ["avss", "last_k", "random"]
    runs = plan_runs(methods, 4)
    assert len(runs) == 9 and len({r.key for r in runs}) == 5
    with pytest.raises(PipelineError, match="invalid layer selection"):
        plan_runs({"x": {"selected": {"0.5": [0, 7]}}}, 4)
    with pytest.raises(PipelineError, match="invalid layer selection"):
        plan_runs({"x": {"selected": {"1.0": [0, 1, 2, 3]}}}, 4)


def test_sweep_and_report_end_to_end(tmp_path):
    model, tok = make_tiny_llm(n_layers=4, arch="llama", hidden=32)
    folder = make_datasets(tmp_path / "ds", n=3)
    spec = {"sciq": {"limit": 2}, "sst2": {"limit": 2}, "nq_open": {"limit": 2, "max_new_tokens": 4},
            "wiki": {"n_docs": 2, "words_per_doc": 12}}
    methods = {k: v for k, v in SCORES.items() if isinstance(v, dict)}
    sweep = run_sweep(model, tok, methods, spec, folder, backend_opts={"batch_size": 2, "progress": False})
    assert sorted(sweep["evaluations"]) == ["dense", "drop-0", "drop-0-1", "drop-2-3", "drop-3"]
    assert model.config.num_hidden_layers == 4  # dense model restored after every run
    out = {k: tmp_path / "out" / f"{k}.{ext}" for k, ext in
           [("csv", "csv"), ("metrics", "json"), ("summary", "md"), ("layer_scores", "png"),
            ("retention", "png"), ("heatmap", "png")]}
    rows = write_report(sweep, out, ratio=0.25, reference="avss")
    assert all(p.exists() for p in out.values())
    dense_rows = [r for r in rows if r["ratio"] == 0]
    assert all(r["retention"] == pytest.approx(1.0) for r in dense_rows if r["retention"] is not None)
    summary = out["summary"].read_text()
    assert "Does avss at 25.0% keep at least 90%" in summary and "Which method keeps the most" in summary
    metrics = json.loads(out["metrics"].read_text())
    assert set(metrics) == {"dense", "avss", "last_k", "random"} and "0.25" in metrics["avss"]
    cell = metrics["avss"]["0.25"]["wiki"]["word_perplexity"]
    assert cell["retention_low"] <= cell["retention"] <= cell["retention_high"]
    with pytest.raises(PipelineError, match="no pruned evaluation at ratio 0.3"):
        summary_markdown(table_rows(sweep, Resampler(50, 0)), ratio=0.3)


def test_phase_bad_input_leaves_nothing(tmp_path):
    from avss.pruning.report import report_pruning
    from avss.pruning.sweep import run_evaluate_pruning

    make_tiny_llm(tmp_path / "model", n_layers=4, arch="llama", hidden=32)
    folder = make_datasets(tmp_path / "ds", n=2)
    params = {"device": "cpu", "dtype": "float32", "batch_size": 2, "progress": False, "seed": 0,
              "tasks": {"sciq": {"limit": 1}, "wiki": {"n_docs": 1, "words_per_doc": 8}}}
    bad = tmp_path / "scores.json"
    bad.write_text("{not json")
    out = tmp_path / "out" / "evaluations.json"
    with pytest.raises(PipelineError, match="cannot read the layer scores"):
        run_evaluate_pruning(tmp_path / "model", bad, folder, params, out)
    bad.write_text(json.dumps({"avss": {"selected": {"0.5": [0, 1, 2, 3]}}}))
    with pytest.raises(PipelineError, match="invalid layer selection"):
        run_evaluate_pruning(tmp_path / "model", bad, folder, params, out)
    bad.write_text(json.dumps({"avss": SCORES["avss"]}))
    with pytest.raises(PipelineError, match="evaluate_pruning.summary.reference: 'avs' is not computed"):
        run_evaluate_pruning(tmp_path / "model", bad, folder, {**params, "summary": {"reference": "avs"}}, out)
    with pytest.raises(PipelineError, match="evaluate_pruning.sweep_methods: \\['bi'\\] not computed"):
        run_evaluate_pruning(tmp_path / "model", bad, folder, {**params, "sweep_methods": ["bi"]}, out)
    with pytest.raises(PipelineError, match="evaluate_pruning.tasks.sciq.limit: 5 items requested"):
        run_evaluate_pruning(tmp_path / "model", bad, folder, {**params, "tasks": {"sciq": {"limit": 5}}}, out)
    assert not out.exists()
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"avss": SCORES["avss"]}))
    record = run_evaluate_pruning(tmp_path / "model", good, folder, params, out)
    assert out.exists() and record["tasks"] == {"sciq": 1, "wiki": 1}
    paths = {k: tmp_path / "rep" / k for k in ("csv", "metrics", "summary", "layer_scores", "retention", "heatmap")}
    with pytest.raises(PipelineError, match="no pruned evaluation at ratio 0.125"):
        report_pruning(out, paths, {"ratio": 0.125})
    assert not any(p.exists() for p in paths.values())
    report_pruning(out, paths, {"ratio": 0.5})
    assert all(p.exists() for p in paths.values())
