"""On-disk formats of the download phase (the contract between download and every LLM phase).

Model: results/download/model/ is a Hugging Face folder (config.json, model.safetensors,
tokenizer files) that loads with ``AutoModelForCausalLM.from_pretrained(folder)`` and
``AutoTokenizer.from_pretrained(folder)``; ``provenance.json`` beside them says where it came from.

Datasets: results/download/datasets/<name>.jsonl, one JSON object per line, every row has a
unique string ``id``. One layout per task kind (``KINDS[name]`` says which):

- ``mc`` (sciq): {"id", "question", "context": str ("" if none), "choices": [str], "gold": int}
  SciQ keeps lm-evaluation-harness's order [distractor1, distractor2, distractor3, correct] -> gold 3.
- ``gen_qa`` (nq_open, trivia_qa): {"id", "question", "answers": [str, ...]}  (gold aliases)
- ``classification`` (sst2): {"id", "text", "label": int, "label_names": [str, ...]}
- ``truthfulqa`` (truthful_qa): {"id", "question", "category", "best_answer",
  "true_answers": [str], "false_answers": [str]}. MC1 = best_answer vs false_answers,
  MC2 = true_answers vs false_answers.
- ``ranking`` (wikiqa): {"id", "question", "candidates": [str], "labels": [0|1]} one row per question.
- ``text`` (wiki): results/download/datasets/wiki.txt, plain UTF-8 text (no jsonl).

results/download/manifest.json: {"model": {...}, "datasets": {name: {"source", "member", "sha256",
"format", "kind", "rows", "licence", "path"}}}.

Read by later phases as well: results/hallucination_samples/<dataset>.jsonl, one ``HallucItem`` per line
(written by avss.eavss.samples; read by the eavss capture and fine-tuning), and the per-layer scores of
results/score/scores.json (``{method: {"per_layer": [...], ...}}``, read by eavss and finetune).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeutil.io import PipelineError

KINDS = {
    "sciq": "mc",
    "nq_open": "gen_qa",
    "trivia_qa": "gen_qa",
    "sst2": "classification",
    "truthful_qa": "truthfulqa",
    "wikiqa": "ranking",
    "wiki": "text",
}


def dataset_path(name: str, root: str = "results/download/datasets") -> str:
    return f"{root}/{name}.txt" if KINDS.get(name) == "text" else f"{root}/{name}.jsonl"


PROMPT = "Question: {question}\nAnswer:"


@dataclass(frozen=True)
class HallucItem:
    """One labelled (question, answer) pair."""
    id: str          # unique item id: "<qid>/<source>/<n>"
    qid: str         # dataset row id of the question
    dataset: str
    question: str
    answer: str
    truthful: bool
    source: str      # true_answer | false_answer | correct_choice | distractor | gold | model_greedy | label1 | label0
    fold: int = -1

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> HallucItem:
        return HallucItem(**{k: d[k] for k in HallucItem.__dataclass_fields__})


def prompt_of(question: str) -> str:
    """Prompt shared by capture, fine-tuning and the samples (the answer follows after a space)."""
    return PROMPT.format(question=question.strip())


def qa_text(question: str, answer: str) -> str:
    return f"{prompt_of(question)} {answer.strip()}"


def read_items(paths: list[str]) -> list[HallucItem]:
    items = []
    for p in paths:
        with open(p) as fh:
            items += [HallucItem.from_dict(json.loads(line)) for line in fh if line.strip()]
    return items


def read_avss(scores_json: str | Path, method: str = "avss") -> list[float]:
    """Per-layer AVSS importance from the score phase (higher = more important)."""
    try:
        raw = json.loads(Path(scores_json).read_text())
        return [float(x) for x in raw[method]["per_layer"]]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise PipelineError(f"{scores_json}: cannot read per-layer scores of method {method!r} ({exc!r})") from exc
