"""Dataset normalisers on tiny raw inputs in the registry layouts, and their bad-input errors."""
import json

import datasets
import pytest

from avss.datasets import materialise, normalise
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
    assert rows == [{"id": "sst2-0", "text": "good .", "label": 1, "label_names": ["negative", "positive"]}]


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
