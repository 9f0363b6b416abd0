"""Truthful vs hallucinated items per dataset, fold assignment and the both-classes check."""
from __future__ import annotations

import pytest

from avss.eavss.samples import HallucItem, build_items, exact_match_fn, model_answers, select_questions, summarise
from avss.records import qa_text
from avss.evaluation.backends import DummyBackend
from avss.folds import assign_folds
from pipeutil.io import PipelineError

TFQA = [{"id": f"tfqa-{i}", "question": f"Q{i}?", "category": "c", "best_answer": "yes",
         "true_answers": ["yes", "Yes", "indeed"], "false_answers": ["no", "never"]} for i in range(4)]
SCIQ = [{"id": "sciq-0", "question": "Q?", "context": "", "choices": ["a", "b", "c", "d"], "gold": 3}]
WIKI = [{"id": "w-0", "question": "Q?", "candidates": ["s1", "s2", "s3"], "labels": [0, 1, 0]},
        {"id": "w-1", "question": "R?", "candidates": ["s1"], "labels": [0]}]
NQ = [{"id": "nq-0", "question": "capital of france", "answers": ["Paris"]},
      {"id": "nq-1", "question": "largest planet", "answers": ["Jupiter"]}]


def _folds(rows, k=2):
    return assign_folds([r["id"] for r in rows], k, seed=0)


def test_truthfulqa_items_dedupe_and_fold():
    items = build_items("truthful_qa", TFQA, _folds(TFQA))
    per_q = [it for it in items if it.qid == "tfqa-0"]
    assert [it.answer for it in per_q if it.truthful] == ["yes", "indeed"]
    assert [it.answer for it in per_q if not it.truthful] == ["no", "never"]
    assert {it.fold for it in items} == {0, 1}
    assert len({it.id for it in items}) == len(items)
    assert HallucItem.from_dict(items[0].to_dict()) == items[0]


def test_sciq_and_wikiqa():
    items = build_items("sciq", SCIQ, {"sciq-0": 0})
    assert [(it.answer, it.truthful) for it in items] == [("d", True), ("a", False), ("b", False), ("c", False)]
    rows = select_questions(WIKI, None, 0, "wikiqa")
    assert [r["id"] for r in rows] == ["w-0"]  # a question without a correct sentence is unusable
    items = build_items("wikiqa", rows, {"w-0": 0})
    assert sum(it.truthful for it in items) == 1 and len(items) == 3


def test_gen_qa_labels_model_answers_by_exact_match():
    backend = DummyBackend(gen_fn=lambda ctx: " The Paris.\nmore" if "france" in ctx else " Saturn, maybe")
    answers = model_answers(backend, "nq_open", NQ)
    assert answers == {"nq-0": " The Paris", "nq-1": " Saturn"}
    items = build_items("nq_open", NQ, {"nq-0": 0, "nq-1": 1}, model_answers=answers,
                        is_correct=exact_match_fn("nq_open"))
    got = {(it.qid, it.answer, it.truthful, it.source) for it in items}
    assert ("nq-0", "The Paris", True, "model_greedy") in got  # NQ drops articles
    assert ("nq-1", "Saturn", False, "model_greedy") in got
    assert ("nq-1", "Jupiter", True, "gold") in got
    assert not exact_match_fn("trivia_qa")("The Paris", ["Paris"])


def test_missing_class_is_an_error():
    all_right = {"nq-0": "Paris", "nq-1": "Jupiter"}
    with pytest.raises(PipelineError, match="0 hallucinated"):
        build_items("nq_open", NQ, _folds(NQ), model_answers=all_right, is_correct=exact_match_fn("nq_open"))
    no_false = [{**r, "false_answers": []} for r in TFQA]
    with pytest.raises(PipelineError, match="no usable question"):
        select_questions(no_false, None, 0, "truthful_qa")
    with pytest.raises(PipelineError, match="0 hallucinated"):
        build_items("truthful_qa", no_false, _folds(no_false))


def test_select_questions_is_seeded_subset():
    a = select_questions(TFQA, 2, 5, "truthful_qa")
    assert a == select_questions(TFQA, 2, 5, "truthful_qa") and len(a) == 2
    assert qa_text(" Q? ", " yes ") == "Question: Q?\nAnswer: yes"


def test_summary_counts():
    s = summarise(build_items("truthful_qa", TFQA, _folds(TFQA)))
    assert s["questions"] == 4 and s["truthful"] == 8 and s["hallucinated"] == 8
    assert sum(v["questions"] for v in s["per_fold"].values()) == 4


def test_fewer_questions_than_folds_names_the_key_and_writes_nothing(tmp_path):
    from avss.eavss.samples import SamplesConfig, write_samples
    from pipeutil.io import write_jsonl
    data = tmp_path / "truthful_qa.jsonl"
    write_jsonl(data, TFQA[:2])
    outs = [tmp_path / "items.jsonl", tmp_path / "summary.json"] + [tmp_path / f"fold{f}.jsonl" for f in range(3)]
    with pytest.raises(PipelineError, match=r"hallucination_samples\.folds: truthful_qa has 2 usable question"):
        write_samples("truthful_qa", str(data), None, SamplesConfig(max_questions=None, folds=3), str(outs[0]),
                      str(outs[1]), [str(p) for p in outs[2:]])
    assert not any(p.exists() for p in outs)
