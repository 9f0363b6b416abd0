"""K-fold split over *questions* so that fine-tuning and evaluation never share a question.

Every question id of a dataset is assigned to exactly one fold by a seeded permutation.
Fold ``f``'s model is trained on the questions of all other folds and evaluated on fold ``f``;
results are averaged over folds.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable

from pipeutil.io import PipelineError


def assign_folds(qids: Iterable[str], k: int, seed: int, what: str = "questions", key: str = "folds") -> dict[str, int]:
    """Map each unique question id to a fold in ``0..k-1`` (balanced, deterministic given ``seed``).

    The permutation depends only on the sorted ids and the seed, not on input order.
    Raises PipelineError naming the parameter ``key`` when ``k < 2`` or when a fold would be empty.
    """
    unique = sorted(set(qids))
    if k < 2:
        raise PipelineError(f"{key}: k={k} but at least 2 folds are needed to keep train and test questions disjoint")
    if len(unique) < k:
        raise PipelineError(f"{key}: {what} has {len(unique)} usable question(s) but k={k} folds were requested; "
                            f"a fold would have no questions (lower `{key}` or raise the number of questions)")
    rng = random.Random(_seed_of(seed, what))
    order = unique[:]
    rng.shuffle(order)
    return {qid: i % k for i, qid in enumerate(order)}


def _seed_of(seed: int, what: str) -> int:
    """Per-dataset seed so that datasets of equal size do not get the same permutation."""
    digest = hashlib.sha256(f"{seed}:{what}".encode()).hexdigest()
    return int(digest[:12], 16)


def split(fold_of: dict[str, int], fold: int) -> tuple[set[str], set[str]]:
    """Return (train ids, test ids) for ``fold``; both must be non-empty."""
    k = max(fold_of.values()) + 1 if fold_of else 0
    if not 0 <= fold < k:
        raise PipelineError(f"folds: fold {fold} does not exist (k={k})")
    test = {q for q, f in fold_of.items() if f == fold}
    train = {q for q, f in fold_of.items() if f != fold}
    if not test or not train:
        raise PipelineError(f"folds: fold {fold} has {len(test)} test and {len(train)} train questions; both must be > 0")
    return train, test


def check_disjoint(train_ids: Iterable[str], test_ids: Iterable[str], what: str) -> None:
    """Raise PipelineError if a question id occurs on both sides (leakage)."""
    both = set(train_ids) & set(test_ids)
    if both:
        raise PipelineError(f"{what}: {len(both)} question(s) occur in both training and evaluation, "
                            f"e.g. {sorted(both)[:3]}")
