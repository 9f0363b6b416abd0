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
"""
from __future__ import annotations

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
