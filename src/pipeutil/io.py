"""Atomic output helpers: a failed job never leaves a file that looks complete."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


# Result files that hold wall-clock measurements (seconds, frames/s): the only files under results/ that
# may differ between two runs with the same params on the same machine (tests/test_workflow_dag.py reruns
# the vision phases and compares every other file byte by byte). Glob patterns relative to the project folder.
TIMING_FILES = [
    "results/train_detector/timing.json",  # seconds of the training loop (per curve point) and of the rule
    "results/detect/*/*/*.timing.json",  # per camera: seconds, frames/s; roi3d: association ms per frame
    "results/bundle/*/*/*.timing.json",  # seconds per method, fusion ms per frame, streaming update ms
    "results/evaluate_vision/sweeps_timing.json",  # seconds and fusion ms per frame of every sweep case
]


class PipelineError(RuntimeError):
    """A user-facing error: bad input or bad parameter. The message names the culprit."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    Works for files and directories: whatever the caller creates at the yielded path
    replaces ``path`` atomically (same filesystem). On error the temporary is removed.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
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


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


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


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _jsonable(o: Any):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
