"""The evaluator: collect every task's requests, call the backend once per request kind, score.

Also builds tasks from the download phase's dataset files (:func:`load_tasks`), with seeded
sub-sampling so that every model of a sweep sees exactly the same documents.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeutil.io import PipelineError, read_jsonl

from . import metrics as M
from .requests import KINDS
from .tasks import TASKS, Task, split_text

log = logging.getLogger(__name__)


@dataclass
class TaskResult:
    """Aggregated scores of one task for one model."""

    task: str
    n: int
    metrics: dict[str, float]
    stderr: dict[str, float | None]
    chance: dict[str, float | None]
    higher_is_better: dict[str, bool]
    primary: str
    ids: list = field(default_factory=list)  # document ids, in the order of ``items``
    items: dict[str, list] = field(default_factory=dict)  # metric -> per-document item (float, or [ll, units])
    samples: list = field(default_factory=list)

    def to_dict(self, items: bool = True) -> dict:
        """JSON-ready record; ``items`` keeps the per-document values (what the paired bootstrap resamples)."""
        skip = {"samples"} | (set() if items else {"ids", "items"})
        out = {k: v for k, v in self.__dict__.items() if k not in skip}
        if items:
            out["items"] = {m: [list(v) if isinstance(v, tuple) else v for v in vals] for m, vals in self.items.items()}
        return out


def evaluate(backend, tasks: Sequence[Task], limits: Mapping[str, int | None] | None = None,
             n_samples: int = 0) -> dict[str, TaskResult]:
    """Evaluate ``tasks`` with ``backend``; one backend call per request kind.

    limits: task name -> maximal number of documents (first N of the task's documents).
    n_samples: keep that many (doc id, responses) pairs per task for inspection.
    """
    limits = limits or {}
    plan = []  # (task, docs, per-doc request lists)
    for task in tasks:
        docs = task.docs[: limits.get(task.name)] if limits.get(task.name) is not None else task.docs
        if not docs:
            raise PipelineError(f"task {task.name!r}: no documents to evaluate (empty dataset or limit 0)")
        plan.append((task, docs, [task.requests(d) for d in docs]))
    answers = _answer_all(backend, plan)
    results = {}
    for t, (task, docs, reqs) in enumerate(plan):
        items: dict[str, list] = {m: [] for m in task.metrics}
        samples = []
        for d, (doc, doc_reqs) in enumerate(zip(docs, reqs)):
            responses = [answers[(t, d, r)] for r in range(len(doc_reqs))]
            for name, item in task.process(doc, responses).items():
                items[name].append(item)
            if d < n_samples:
                samples.append({"id": doc.get("id"), "responses": responses})
        results[task.name] = TaskResult(
            task=task.name, n=len(docs), metrics={m: M.aggregate(m, v) for m, v in items.items()},
            stderr={m: M.stderr(m, v) for m, v in items.items()}, chance=task.chance(),
            higher_is_better={m: M.get_metric(m).higher_is_better for m in task.metrics},
            primary=task.metrics[0], ids=[doc.get("id", d) for d, doc in enumerate(docs)], items=items,
            samples=samples)
    return results


def _answer_all(backend, plan) -> dict[tuple[int, int, int], object]:
    """Group all requests by kind, call the backend once per kind, index the answers."""
    by_kind: dict[str, list] = {k: [] for k in KINDS}
    for t, (_, _, reqs) in enumerate(plan):
        for d, doc_reqs in enumerate(reqs):
            for r, req in enumerate(doc_reqs):
                by_kind[req.kind].append(((t, d, r), req))
    answers = {}
    for kind, entries in by_kind.items():
        if not entries:
            continue
        start = time.perf_counter()
        out = getattr(backend, kind)([req for _, req in entries])
        if len(out) != len(entries):
            raise RuntimeError(f"backend answered {len(out)} of {len(entries)} {kind} requests")
        answers.update({key: ans for (key, _), ans in zip(entries, out)})
        log.info("%s: %d requests in %.1f s", kind, len(entries), time.perf_counter() - start)
    return answers


def subsample(docs: list[dict], limit: int | None, seed: int) -> list[dict]:
    """The first ``limit`` documents of a seeded permutation, kept in file order (all if limit is None).

    Nested: with the same seed a smaller limit gives a subset of a larger one, so item sets of different
    sizes (the decision ratio's, the sweep's) share their items and can be compared pairwise.
    """
    if limit is None or limit >= len(docs):
        return docs
    perm = random.Random(seed).sample(range(len(docs)), len(docs))
    return [docs[i] for i in sorted(perm[:limit])]


def draw_docs(rows: list[dict], limit: int | None, seed: int, n_shots: int = 0,
              pool: Sequence[float] = (0.0, 1.0), where: str = "task") -> tuple[list[dict], list[dict]]:
    """(evaluated documents, few-shot documents) from ``rows``.

    pool: the fraction [lo, hi) of the file (in file order) the documents come from (e.g. SciQ's first
    half is evaluated, its second half's support paragraphs calibrate the capture). The shots are the
    first ``n_shots`` of a seeded permutation of the pool, never evaluated; the documents are the first
    ``limit`` of the rest (nested, file order). A limit larger than what is left is an error naming ``where``.
    """
    lo, hi = (float(x) for x in pool)
    if not 0.0 <= lo < hi <= 1.0:
        raise PipelineError(f"{where}.pool: {list(pool)} is not a range 0 <= lo < hi <= 1")
    part = rows[int(round(lo * len(rows))):int(round(hi * len(rows)))]
    perm = random.Random(seed).sample(range(len(part)), len(part))
    shots = [part[i] for i in perm[:n_shots]]
    rest = perm[n_shots:]
    if limit is not None and limit > len(rest):
        raise PipelineError(f"{where}.limit: {limit} items requested, but the dataset has {len(rest)} "
                            f"({len(rows)} rows, pool {[lo, hi]} holds {len(part)}, {n_shots} kept as few-shot examples)")
    keep = rest if limit is None else rest[:limit]
    return [part[i] for i in sorted(keep)], shots


def load_tasks(spec: Mapping[str, Mapping], datasets_dir: str | Path, seed: int = 0,
               where: str = "tasks") -> list[Task]:
    """Build tasks from ``{task name: options}`` and the download phase's dataset files.

    Options: ``limit`` (documents, null = all; more than the dataset holds is an error), ``pool``
    ([lo, hi) fraction of the file drawn from), ``fewshot`` (nq_open, trivia_qa: solved examples before
    every question, drawn apart), ``max_new_tokens`` (nq_open, trivia_qa), ``norm`` (wikiqa),
    ``n_docs``/``words_per_doc``/``from_end`` (wiki). ``where`` names the spec in errors.
    """
    tasks = []
    for name, opts in spec.items():
        if name not in TASKS:
            raise PipelineError(f"{where}: unknown evaluation task {name!r}; known tasks: {sorted(TASKS)}")
        opts = dict(opts or {})
        path = Path(datasets_dir) / f"{name}{TASKS[name].file_suffix}"
        if not path.exists():
            raise PipelineError(f"task {name!r}: dataset file {path} not found (run the download phase)")
        extra = {k: opts[k] for k in ("max_new_tokens", "norm") if k in opts}
        if name == "wiki":
            text = path.read_text(encoding="utf-8")
            n_docs, words = int(opts.get("n_docs", 8)), int(opts.get("words_per_doc", 192))
            docs = split_text(text, n_docs, words, bool(opts.get("from_end", True)))
            if len(docs) < n_docs:
                raise PipelineError(f"{where}.wiki.n_docs: {n_docs} documents of {words} words requested, "
                                    f"{path} holds {len(docs)}")
        else:
            docs, shots = draw_docs(read_jsonl(path), opts.get("limit"), seed, int(opts.get("fewshot", 0)),
                                    opts.get("pool", (0.0, 1.0)), where=f"{where}.{name}")
            if opts.get("fewshot"):
                if not hasattr(TASKS[name], "shots"):
                    raise PipelineError(f"{where}.{name}.fewshot: only generative tasks (nq_open, trivia_qa) take few-shot examples")
                extra["shots"] = shots
        if not docs:
            raise PipelineError(f"task {name!r}: {path} holds no usable documents")
        task = TASKS[name](docs, **extra)
        if not task.docs:
            raise PipelineError(f"task {name!r}: no usable documents in {path} after filtering")
        tasks.append(task)
    return tasks
