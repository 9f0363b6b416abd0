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
    samples: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "samples"}


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
            primary=task.metrics[0], samples=samples)
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
    """A seeded random subset of ``limit`` documents, kept in file order (all if limit is None)."""
    if limit is None or limit >= len(docs):
        return docs
    keep = sorted(random.Random(seed).sample(range(len(docs)), limit))
    return [docs[i] for i in keep]


def load_tasks(spec: Mapping[str, Mapping], datasets_dir: str | Path, seed: int = 0) -> list[Task]:
    """Build tasks from ``{task name: options}`` and the download phase's dataset files.

    Options: ``limit`` (documents, null = all), plus ``max_new_tokens`` (nq_open, trivia_qa),
    ``norm`` (wikiqa), ``n_docs``/``words_per_doc``/``from_end`` (wiki).
    """
    tasks = []
    for name, opts in spec.items():
        if name not in TASKS:
            raise PipelineError(f"unknown evaluation task {name!r}; known tasks: {sorted(TASKS)}")
        opts = dict(opts or {})
        path = Path(datasets_dir) / f"{name}{TASKS[name].file_suffix}"
        if not path.exists():
            raise PipelineError(f"task {name!r}: dataset file {path} not found (run the download phase)")
        if name == "wiki":
            docs = split_text(path.read_text(encoding="utf-8"), int(opts.get("n_docs", 8)),
                              int(opts.get("words_per_doc", 192)), bool(opts.get("from_end", True)))
        else:
            docs = subsample(read_jsonl(path), opts.get("limit"), seed)
        if not docs:
            raise PipelineError(f"task {name!r}: {path} holds no usable documents")
        extra = {k: opts[k] for k in ("max_new_tokens", "norm") if k in opts}
        task = TASKS[name](docs, **extra)
        if not task.docs:
            raise PipelineError(f"task {name!r}: no usable documents in {path} after filtering")
        tasks.append(task)
    return tasks
