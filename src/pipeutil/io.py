"""Atomic output helpers: a failed job never leaves a file that looks complete."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


# Result files that hold wall-clock measurements (seconds, frames/s): the only files under results/ that
# may differ between two runs with the same params on the same machine (tests/test_determinism.py and
# tests/test_workflow_dag.py compare every other file byte by byte). Glob patterns relative to the project folder.
TIMING_FILES = [
    "results/evaluate_pruning/timings.json",  # seconds per evaluated model, total
    "results/evaluate_pruning/damage_timings.json",  # seconds per single-layer removal of layer_damage, total
    "results/train_detector/timing.json",  # seconds of the training loop (per curve point) and of the rule
    "results/detect/*/*/*.timing.json",  # per camera: seconds, frames/s; roi3d: association ms per frame
    "results/bundle/*/*/*.timing.json",  # seconds per method, fusion ms per frame, streaming update ms
    "results/evaluate_vision/sweeps_timing.json",  # seconds and fusion ms per frame of every sweep case
    "results/live/*/*/records.jsonl",  # live tracker: one record per frame set, with its latencies
    "results/live/*/*/timing.json",  # live tracker: seconds, frame sets/s, latency p50/p95/max per stage
    "results/evaluate_vision/live_latency.json",  # live tracker latencies pooled over the scenes, frame sets/s
    "results/evaluate_vision/live.md",  # live beside batch, with the latency table
]


class PipelineError(RuntimeError):
    """A user-facing error: bad input or bad parameter. The message names the culprit."""


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """The temporaries ``.<name>.<8 random characters>.tmp`` that atomic_path(path) creates beside ``path``.

    The pattern is exact (tempfile's random part has no dot), so the temporaries of another path of the
    same folder (``.<name>.json.<random>.tmp`` for ``<name>.json``) never match.
    """
    final = Path(path)
    pattern = re.compile(rf"\.{re.escape(final.name)}\.[a-z0-9_]{{8}}\.tmp")
    if not final.parent.is_dir():
        return []
    return sorted(p for p in final.parent.iterdir() if pattern.fullmatch(p.name))


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove what a killed atomic_path(path) left beside ``path`` (call it only for paths this job owns)."""
    found = stale_temporaries(path)
    for p in found:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return found


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    Works for files and directories: whatever the caller creates at the yielded path
    replaces ``path`` atomically (same filesystem). On error the temporary is removed; temporaries
    of ``path`` left by a killed process (kill -9) are removed first (the caller owns ``path``).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    target = tmp / final.name
    try:
        yield target
        if not target.exists():
            raise PipelineError(f"{final}: nothing was written")
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() or final.is_symlink():
            final.unlink()
        os.replace(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def job_workdir(base: str | os.PathLike, name: str) -> Iterator[Path]:
    """A scratch folder ``<base>/.work/<name>`` owned by one job: emptied on entry (what a killed run left)
    and removed on exit. ``name`` must be unique to the job (e.g. the dataset name)."""
    work = Path(base) / ".work" / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """The content of a JSON file; a missing, unreadable or malformed file raises PipelineError naming it
    and ``what`` it should hold (e.g. "scene truth")."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path}: cannot read {what} ({exc})") from exc


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_jsonl(path: str | os.PathLike, rows) -> int:
    """Write an iterable of dicts as JSON lines, atomically; return the row count."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=_jsonable) + "\n")
            n += 1
    return n


def jsonl_rows(path: str | os.PathLike, where: str | None = None) -> list[tuple[int, Any]]:
    """(line number, value) of every non-blank line; a line that is not JSON raises PipelineError naming it."""
    head = f"{where}: " if where else ""
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    out.append((n, json.loads(line.rstrip("\r\n"))))
                except json.JSONDecodeError as exc:
                    raise PipelineError(f"{head}{path} line {n}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{head}{path} line {n + 1}: not UTF-8 text ({exc.reason})") from exc
    return out


def read_jsonl(path: str | os.PathLike, where: str | None = None) -> list[dict]:
    """Every row of a JSON-lines file (errors name the file and line)."""
    return [row for _, row in jsonl_rows(path, where)]


def _jsonable(o: Any):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
