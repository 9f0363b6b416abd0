"""The outputs declared to hold wall-clock timings: the only result files allowed to differ between two
runs of the same parameters on the same machine (everything else must be byte-identical).

Timings never go into a result file: a phase that measures its speed writes them to a timing file of
its own (patterns below, relative to the repository root; ``*`` matches within one path component).
Rule benchmark logs (logs/<rule>/*.tsv) and the rule logs are timings too; they are not results.
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import PurePosixPath

TIMING_FILES = (
    "results/train_detector/timing.json",  # seconds of the training loop (per curve point) and of the rule
    "results/detect/*/*/*.timing.json",  # per camera: seconds, frames/s; roi3d: association ms per frame
    "results/bundle/*/*/*.timing.json",  # seconds per method, fusion ms per frame, streaming update ms
    "results/evaluate_vision/sweeps_timing.json",  # seconds and fusion ms per frame of every sweep case
)


def matches(path: str, pattern: str) -> bool:
    """``path`` (relative to the repository root, '/' separated) matches ``pattern`` component by component."""
    a, b = PurePosixPath(path).parts, PurePosixPath(pattern).parts
    return len(a) == len(b) and all(fnmatchcase(x, y) for x, y in zip(a, b))


def is_timing_file(path: str) -> bool:
    """Whether ``path`` (relative to the repository root) is a declared timing file."""
    return any(matches(path, p) for p in TIMING_FILES)

