"""Truthful vs hallucinated (question, answer) items, one labelled set per dataset.

Sources of the two classes (dataset rows follow src/avss/records.py):

- truthful_qa: ``true_answers`` -> truthful, ``false_answers`` -> hallucinated.
- sciq: the correct choice -> truthful, the distractors -> hallucinated.
- nq_open, trivia_qa: the first gold alias -> truthful; the model's own greedy answer ->
  truthful if it matches a gold alias exactly (after normalisation), else hallucinated.
- wikiqa: candidate sentences labelled 1 -> truthful, labelled 0 -> hallucinated.

Every item carries its question id ``qid`` (the dataset row id) and the fold of that question,
so training and evaluation can use disjoint questions (src/avss/folds.py).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from avss.evaluation.metrics import exact_match
from avss.evaluation.tasks import TASKS
from avss.folds import assign_folds
from avss.hf_backend import load_hf_backend
from avss.records import KINDS, HallucItem
from pipeutil.io import PipelineError, read_jsonl, write_json, write_jsonl

DATASETS = ("truthful_qa", "sciq", "nq_open", "trivia_qa", "wikiqa")


def _items(row: dict, dataset: str, answers: Sequence[str], truthful: bool, source: str,
           limit: int | None) -> list[HallucItem]:
    out, seen = [], set()
    for ans in answers:
        ans = str(ans).strip()
        if not ans or ans.lower() in seen:
            continue
        seen.add(ans.lower())
        out.append(HallucItem(f"{row['id']}/{source}/{len(out)}", str(row["id"]), dataset,
                              str(row["question"]), ans, truthful, source))
        if limit is not None and len(out) >= limit:
            break
    return out


def from_truthfulqa(row: dict, limit: int | None = None) -> list[HallucItem]:
    return (_items(row, "truthful_qa", row["true_answers"], True, "true_answer", limit)
            + _items(row, "truthful_qa", row["false_answers"], False, "false_answer", limit))


def from_sciq(row: dict, limit: int | None = None) -> list[HallucItem]:
    gold = int(row["gold"])
    wrong = [c for i, c in enumerate(row["choices"]) if i != gold]
    return (_items(row, "sciq", [row["choices"][gold]], True, "correct_choice", limit)
            + _items(row, "sciq", wrong, False, "distractor", limit))


def from_wikiqa(row: dict, limit: int | None = None) -> list[HallucItem]:
    pos = [c for c, lab in zip(row["candidates"], row["labels"]) if int(lab) == 1]
    neg = [c for c, lab in zip(row["candidates"], row["labels"]) if int(lab) == 0]
    return (_items(row, "wikiqa", pos, True, "label1", limit)
            + _items(row, "wikiqa", neg, False, "label0", limit))


def from_gen_qa(row: dict, dataset: str, model_answer: str, is_correct: Callable[[str, list[str]], bool],
                limit: int | None = None) -> list[HallucItem]:
    """Gold alias (truthful) plus the model's greedy answer labelled by exact match."""
    gold = _items(row, dataset, row["answers"][:1], True, "gold", limit)
    ans = model_answer.strip()
    if not ans:
        return gold
    correct = bool(is_correct(ans, list(row["answers"])))
    if correct and gold and ans.lower() == gold[0].answer.lower():
        return gold
    return gold + _items(row, dataset, [ans], correct, "model_greedy", limit)


def build_items(dataset: str, rows: list[dict], fold_of: dict[str, int], *, limit: int | None = None,
                model_answers: dict[str, str] | None = None,
                is_correct: Callable[[str, list[str]], bool] | None = None, source: str = "") -> list[HallucItem]:
    """All labelled items of ``dataset`` for the questions in ``fold_of``; checks both classes exist."""
    by_id = {str(r["id"]): r for r in rows}
    items: list[HallucItem] = []
    for qid in sorted(fold_of, key=_natural):
        row = by_id[qid]
        kind = KINDS.get(dataset)
        if dataset == "truthful_qa":
            new = from_truthfulqa(row, limit)
        elif dataset == "sciq":
            new = from_sciq(row, limit)
        elif dataset == "wikiqa":
            new = from_wikiqa(row, limit)
        elif kind == "gen_qa":
            if model_answers is None or is_correct is None:
                raise PipelineError(f"{dataset}: model answers are needed to label generative QA items")
            new = from_gen_qa(row, dataset, model_answers.get(qid, ""), is_correct, limit)
        else:
            raise PipelineError(f"{dataset}: no truthful/hallucinated source for this dataset; "
                                f"expected one of {list(DATASETS)}")
        items += [HallucItem(**{**it.to_dict(), "fold": fold_of[qid]}) for it in new]
    check_classes(items, f"{source or dataset}")
    return items


def check_classes(items: list[HallucItem], what: str) -> None:
    """Both classes must be present: the contrast is undefined otherwise."""
    n_true = sum(it.truthful for it in items)
    n_false = len(items) - n_true
    if n_true == 0 or n_false == 0:
        raise PipelineError(f"{what}: {n_true} truthful and {n_false} hallucinated items; "
                            f"both classes are needed (use more questions or another dataset)")


def select_questions(rows: list[dict], max_questions: int | None, seed: int, dataset: str) -> list[dict]:
    """A seeded sample of at most ``max_questions`` usable rows (order of ids kept)."""
    usable = [r for r in rows if _usable(dataset, r)]
    if not usable:
        raise PipelineError(f"{dataset}: no usable question in {len(rows)} rows")
    if max_questions is not None and len(usable) > max_questions:
        rng = random.Random(f"{seed}:{dataset}")
        keep = {id(r) for r in rng.sample(usable, max_questions)}
        usable = [r for r in usable if id(r) in keep]
    return usable


def _usable(dataset: str, row: dict) -> bool:
    if dataset == "wikiqa":
        labels = [int(x) for x in row.get("labels", [])]
        return 1 in labels and 0 in labels
    if dataset == "truthful_qa":
        return bool(row.get("true_answers")) and bool(row.get("false_answers"))
    if KINDS.get(dataset) == "gen_qa":
        return bool(row.get("answers"))
    return True


def summarise(items: list[HallucItem]) -> dict:
    """Counts per fold and class (written next to the items)."""
    folds = sorted({it.fold for it in items})
    return {"questions": len({it.qid for it in items}), "items": len(items),
            "truthful": sum(it.truthful for it in items), "hallucinated": sum(not it.truthful for it in items),
            "per_fold": {str(f): {"questions": len({it.qid for it in items if it.fold == f}),
                                  "truthful": sum(it.truthful for it in items if it.fold == f),
                                  "hallucinated": sum(not it.truthful for it in items if it.fold == f)}
                         for f in folds}}


def _natural(qid: str):
    return (len(qid), qid)


def model_answers(backend, dataset: str, rows: list[dict], max_new_tokens: int = 16) -> dict[str, str]:
    """The model's greedy answers, with the evaluation task's own prompt and stop strings."""
    task = TASKS[dataset](rows, max_new_tokens=max_new_tokens)
    requests = [task.requests(r)[0] for r in rows]
    answers = backend.generate_until(requests)
    return {str(r["id"]): a for r, a in zip(rows, answers)}


def exact_match_fn(dataset: str) -> Callable[[str, list[str]], bool]:
    """The evaluation's exact-match rule for ``dataset`` (NQ drops articles, TriviaQA does not)."""
    drop = bool(getattr(TASKS[dataset], "drop_articles", False))
    return lambda pred, refs: exact_match(pred, refs, drop) > 0


@dataclass(frozen=True)
class SamplesConfig:
    """params.yaml: hallucination_samples (one dataset)."""
    max_questions: int | None = 64     # questions drawn from the dataset (seeded), split into folds
    max_answers_per_class: int = 3     # truthful / hallucinated answers kept per question
    folds: int = 2
    seed: int = 0
    max_new_tokens: int = 16           # greedy answer length for nq_open / trivia_qa
    batch_size: int = 8


def make_samples(dataset: str, rows: list[dict], cfg: SamplesConfig, model_dir: str | None = None
                 ) -> tuple[list[HallucItem], dict[int, list[dict]]]:
    """Labelled items of ``dataset`` plus, per fold, the dataset rows of that fold's questions."""
    pool = select_questions(rows, cfg.max_questions, cfg.seed, dataset)
    fold_of = assign_folds([str(r["id"]) for r in pool], cfg.folds, cfg.seed, what=dataset,
                           key="hallucination_samples.folds")
    answers = correct = None
    if KINDS.get(dataset) == "gen_qa":
        if not model_dir:
            raise PipelineError(f"{dataset}: the model is needed to label its own greedy answers")
        backend = load_hf_backend(model_dir, device="auto", batch_size=cfg.batch_size, progress=False)
        answers, correct = model_answers(backend, dataset, pool, cfg.max_new_tokens), exact_match_fn(dataset)
    items = build_items(dataset, pool, fold_of, limit=cfg.max_answers_per_class, model_answers=answers,
                        is_correct=correct)
    by_fold = {f: [r for r in pool if fold_of[str(r["id"])] == f] for f in range(cfg.folds)}
    return items, by_fold


def write_samples(dataset: str, data_path: str, model_dir: str | None, cfg: SamplesConfig, out_items: str,
                  out_summary: str, out_eval: list[str]) -> dict:
    """Rule entry: items of ``dataset`` (jsonl), its summary and one eval file per fold (dataset rows)."""
    if len(out_eval) != cfg.folds:
        raise PipelineError(f"{dataset}: {len(out_eval)} eval outputs for {cfg.folds} folds")
    items, by_fold = make_samples(dataset, read_jsonl(data_path), cfg, model_dir)
    summary = {"dataset": dataset, **summarise(items), "config": asdict(cfg)}
    for f, path in enumerate(out_eval):
        write_jsonl(path, by_fold[f])
    write_jsonl(out_items, (it.to_dict() for it in items))
    write_json(out_summary, summary)
    return summary
