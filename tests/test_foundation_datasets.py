"""Dataset normalisers on tiny raw inputs in the registry layouts, and their bad-input errors."""
import hashlib
import json
import re

import datasets
import pytest

from avss.data.datasets import materialise, normalise
from pipeutil.io import PipelineError


def test_hf_disk_sciq_and_trivia(tmp_path):
    sciq = datasets.Dataset.from_list([{"question": "Q?", "distractor1": "a", "distractor2": "b",
                                        "distractor3": "c", "correct_answer": "d", "support": "S"}])
    sciq.save_to_disk(tmp_path / "sciq")
    rows, entry = materialise("sciq", {"source": f"file:{tmp_path / 'sciq'}", "format": "hf_disk"}, "", None, tmp_path)
    assert rows == [{"id": "sciq-0", "question": "Q?", "context": "S", "choices": ["a", "b", "c", "d"], "gold": 3}]
    assert entry["rows"] == 1 and entry["kind"] == "mc"
    raw = [{"question": "Who?", "question_id": "t1", "answer": {"aliases": ["Al", "Bo"], "value": "Cy"}}]
    assert normalise("trivia_qa", raw, "hf_disk")[0]["answers"] == ["Al", "Bo", "Cy"]


def test_nq_accepts_stringified_lists():
    rows = normalise("nq_open", [{"question": "when", "answer": "['1972', 'December 1972']"}], "hf_disk")
    assert rows[0]["answers"] == ["1972", "December 1972"]


def test_truthfulqa_bigbench_layout_and_hub_layout():
    bb = {"examples": [{"Question": "Q", "Category": "C", "True answers": ["t1", "t2"], "False answers": ["f"],
                        "Best answer": "t1"}]}
    hub = [{"question": "Q", "category": "C", "best_answer": "t1", "correct_answers": ["t1", "t2"],
            "incorrect_answers": ["f"]}]
    assert normalise("truthful_qa", bb, "json") == normalise("truthful_qa", hub, "hf")


def test_wikiqa_csv_groups_by_question(tmp_path):
    (tmp_path / "wq").mkdir()
    (tmp_path / "wq" / "dev.csv").write_text(",id_left,text_left,id_right,text_right,label\n"
                                             "0,Q1,how,D1-0,s0,0.0\n1,Q1,how,D1-1,s1,1.0\n2,Q2,why,D2-0,s2,1.0\n")
    rows, _ = materialise("wikiqa", {"source": f"file:{tmp_path / 'wq'}", "format": "csv_dir"}, "", None, tmp_path)
    assert rows[0] == {"id": "wikiqa-Q1", "question": "how", "candidates": ["s0", "s1"], "labels": [0, 1]}
    assert len(rows) == 2


def test_sst2_and_max_rows():
    raw = [{"sentence": "good . ", "label": 1, "idx": 0}, {"sentence": "bad", "label": 0, "idx": 1}]
    rows = normalise("sst2", raw, "hf_disk", max_rows=1)
    # kept as shipped (GLUE's trailing space is part of lm-evaluation-harness's prompt)
    assert rows == [{"id": "sst2-0", "text": "good . ", "label": 1, "label_names": ["negative", "positive"]}]


def test_bad_inputs(tmp_path):
    with pytest.raises(PipelineError, match="datasets.sciq: the dataset is empty"):
        normalise("sciq", [], "hf_disk")
    with pytest.raises(PipelineError, match="datasets.sciq: rows do not have the expected fields"):
        normalise("sciq", [{"question": "q"}], "hf_disk")
    with pytest.raises(PipelineError, match="does not exist"):
        materialise("sst2", {"source": "file:/nonexistent/x", "format": "jsonl"}, "", None, tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(PipelineError, match=r"datasets.sst2: .*bad.jsonl line 1: not valid JSON"):
        materialise("sst2", {"source": f"file:{bad}", "format": "normalized"}, "", None, tmp_path)
    ok = tmp_path / "ok.jsonl"
    ok.write_text(json.dumps({"id": "1", "text": "x", "label": 0, "label_names": ["n", "p"]}) + "\n")
    assert materialise("sst2", {"source": f"file:{ok}", "format": "normalized"}, "", None, tmp_path)[1]["rows"] == 1


SCIQ_OK = {"id": "s1", "question": "Q?", "context": "", "choices": ["a", "b", "c", "d"], "gold": 3}


@pytest.mark.parametrize("name, bad, message", [
    ("sciq", {**SCIQ_OK, "gold": 4}, "line 3: field 'gold': 4 is not an index of the 4 choices"),
    ("sciq", {**SCIQ_OK, "choices": []}, "line 3: field 'choices': is an empty list"),
    ("sciq", {**SCIQ_OK, "gold": "3"}, "line 3: field 'gold': expected an integer, got str"),
    ("sciq", {**SCIQ_OK, "id": "s1"}, "line 3: field 'id': 's1' already used by line 1"),
    ("sciq", ["s1", "Q?", ["a", "b"], 0], "line 3: expected a JSON object, got list"),
    ("sciq", {k: v for k, v in SCIQ_OK.items() if k != "choices"} | {"id": "s2", "options": ["a", "b"]},
     "line 3: field 'choices' is missing"),
    ("nq_open", {"id": "n2", "question": "q", "answers": "Paris"}, "line 3: field 'answers': expected a list, got str"),
    ("sst2", {"id": "t2", "text": "x", "label": 2, "label_names": ["n", "p"]},
     "line 3: field 'label': 2 is not an index of label_names"),
    ("wikiqa", {"id": "w2", "question": "q", "candidates": ["a", "b"], "labels": [1]},
     "line 3: field 'labels': 1 labels for 2 candidates"),
    ("truthful_qa", {"id": "f2", "question": "q", "category": "", "best_answer": "t", "true_answers": ["t"],
                     "false_answers": []}, "line 3: field 'false_answers': is an empty list"),
])
def test_normalized_rows_are_checked_at_download(tmp_path, name, bad, message):
    """Before: these rows passed the download phase and crashed a later phase with KeyError / IndexError."""
    good = {"sciq": SCIQ_OK, "nq_open": {"id": "n1", "question": "q", "answers": ["a"]},
            "sst2": {"id": "t1", "text": "x", "label": 1, "label_names": ["n", "p"]},
            "wikiqa": {"id": "w1", "question": "q", "candidates": ["a"], "labels": [1]},
            "truthful_qa": {"id": "f1", "question": "q", "category": "", "best_answer": "t", "true_answers": ["t"],
                            "false_answers": ["f"]}}[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")  # a blank line: line 3 is the bad row
    with pytest.raises(PipelineError, match=f"datasets.{name}: .*{name}.jsonl {re.escape(message)}"):
        materialise(name, {"source": f"file:{path}", "format": "normalized"}, "", None, tmp_path)


def test_jsonl_error_names_the_line(tmp_path):
    """Before: json's own position ('line 1 column 2') was the position inside the line."""
    from pipeutil.io import read_jsonl

    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": \n')
    with pytest.raises(PipelineError, match=r"rows.jsonl line 4: not valid JSON \(Expecting value at column 7\)"):
        read_jsonl(path)


def test_file_source_sha256_is_verified_not_just_recorded(tmp_path):
    path = tmp_path / "sst2.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "x", "label": 0, "label_names": ["n", "p"]}) + "\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cfg = {"source": f"file:{path}", "format": "normalized"}
    _, entry = materialise("sst2", {**cfg, "sha256": digest}, "", None, tmp_path)
    assert entry["sha256"] == digest and entry["sha256_verified"] is True
    _, entry = materialise("sst2", cfg, "", None, tmp_path)
    assert entry["sha256"] == digest and entry["sha256_verified"] is False
    with pytest.raises(PipelineError, match=r"datasets.sst2.sha256: .*sst2.jsonl has sha256 .*params expect 1111"):
        materialise("sst2", {**cfg, "sha256": "1" * 64}, "", None, tmp_path)
