"""Write the tiny inputs of the smoke configuration (tests/params.smoke.yaml) under <root>/tests/_smoke/.

Usage: python tests/smoke_inputs.py [ROOT]   (then: snakemake --cores 2 --configfile tests/params.smoke.yaml)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_llm import make_tiny_llm  # noqa: E402

QA = [("What is the capital of France?", ["Paris"]), ("What is the capital of Italy?", ["Rome"]),
      ("Which planet is closest to the sun?", ["Mercury"]), ("Which planet is the farthest?", ["Neptune"]),
      ("What do plants convert light into?", ["chemical energy", "energy"]), ("How hot does water boil?", ["100 degrees"])]
TEXT = " ".join(["The capital of France is Paris. The capital of Italy is Rome. Photosynthesis converts light "
                 "energy into chemical energy in plants. Mercury is the planet closest to the sun."] * 40)


def _rows(name: str) -> list[dict]:
    if name in ("nq_open", "trivia_qa"):
        return [{"id": f"{name}-{i}", "question": q, "answers": a} for i, (q, a) in enumerate(QA)]
    if name == "sciq":
        return [{"id": f"sciq-{i}", "question": q, "context": "Plants and planets.", "gold": 3,
                 "choices": ["Berlin", "Mars", "water", a[0]]} for i, (q, a) in enumerate(QA)]
    if name == "sst2":
        texts = ["a wonderful , moving film", "dull and terrible", "charming", "the acting was terrible",
                 "it was wonderful", "dull plot"]
        return [{"id": f"sst2-{i}", "text": t, "label": int(i % 2 == 0), "label_names": ["negative", "positive"]}
                for i, t in enumerate(texts)]
    if name == "truthful_qa":
        return [{"id": f"tfqa-{i}", "question": q, "category": "Test", "best_answer": a[0],
                 "true_answers": [a[0], f"It is {a[0]}."], "false_answers": ["Berlin", "Nothing at all."]}
                for i, (q, a) in enumerate(QA)]
    if name == "wikiqa":
        return [{"id": f"wikiqa-{i}", "question": q, "candidates": [f"The answer is {a[0]}.", "Water is wet.",
                                                                   "Cats sleep a lot."], "labels": [1, 0, 0]}
                for i, (q, a) in enumerate(QA)]
    raise KeyError(name)


def write_smoke_inputs(root: str | Path) -> Path:
    out = Path(root) / "tests" / "_smoke"
    (out / "datasets").mkdir(parents=True, exist_ok=True)
    if not (out / "model" / "config.json").is_file():
        make_tiny_llm(out / "model", n_layers=4, arch="llama")
    for name in ("nq_open", "trivia_qa", "sciq", "sst2", "truthful_qa", "wikiqa"):
        with open(out / "datasets" / f"{name}.jsonl", "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in _rows(name))
    (out / "datasets" / "wiki.txt").write_text(TEXT)
    return out


if __name__ == "__main__":
    print(write_smoke_inputs(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]))
