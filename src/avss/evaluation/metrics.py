"""Metrics: small registered pure functions (per-item value) plus a direction and an aggregation.

A task's ``process`` returns ``{metric name: item}`` per document; :func:`aggregate` turns the
items of one metric into one number. Items are floats for ``mean`` metrics and
``(log-likelihood, units)`` pairs for the perplexity family (units = tokens, words or bytes).
"""
from __future__ import annotations

import difflib
import math
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeutil.io import PipelineError

AGGREGATIONS = ("mean", "perplexity", "bits_per_unit")


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable
    higher_is_better: bool
    aggregation: str  # one of AGGREGATIONS


REGISTRY: dict[str, Metric] = {}


def register(name: str, higher_is_better: bool, aggregation: str = "mean"):
    """Decorator: register ``fn`` as metric ``name``."""
    assert aggregation in AGGREGATIONS, aggregation

    def deco(fn):
        REGISTRY[name] = Metric(name, fn, higher_is_better, aggregation)
        return fn
    return deco


def get_metric(name: str) -> Metric:
    """Look a metric up by name; an unknown name answers with the closest known ones."""
    if name not in REGISTRY:
        hint = difflib.get_close_matches(name, REGISTRY, n=3)
        raise PipelineError(f"unknown metric {name!r}" + (f" (did you mean {' or '.join(map(repr, hint))}?)" if hint else "")
                            + f"; known metrics: {sorted(REGISTRY)}")
    return REGISTRY[name]


def aggregate(name: str, items: Sequence) -> float:
    """Aggregate per-document items of metric ``name`` into one number."""
    metric = get_metric(name)
    if len(items) == 0:
        raise PipelineError(f"metric {name!r}: no items to aggregate (empty dataset?)")
    if metric.aggregation == "mean":
        return float(np.mean(np.asarray(items, dtype=np.float64)))
    ll = sum(float(i[0]) for i in items)
    units = sum(float(i[1]) for i in items)
    if units <= 0:
        raise PipelineError(f"metric {name!r}: zero tokens/words/bytes to normalise by")
    if metric.aggregation == "perplexity":
        return math.exp(-ll / units)
    return -ll / units / math.log(2)


def stderr(name: str, items: Sequence) -> float | None:
    """Standard error of a mean metric (sample std / sqrt(n)); None for the perplexity family."""
    if get_metric(name).aggregation != "mean" or len(items) < 2:
        return None
    arr = np.asarray(items, dtype=np.float64)
    return float(arr.std(ddof=1) / math.sqrt(len(arr)))


# ---------------------------------------------------------------- multiple choice
@register("acc", higher_is_better=True)
def acc(lls: Sequence[float], gold: int) -> float:
    """1 if the choice with the highest summed log-likelihood is the gold one (first wins ties)."""
    return float(int(np.argmax(lls)) == gold)


@register("acc_norm", higher_is_better=True)
def acc_norm(lls: Sequence[float], gold: int, lengths: Sequence[int]) -> float:
    """Like :func:`acc` with each log-likelihood divided by its choice's length (UTF-8 bytes)."""
    norm = np.asarray(lls, dtype=np.float64) / np.maximum(np.asarray(lengths, dtype=np.float64), 1.0)
    return float(int(np.argmax(norm)) == gold)


@register("mc1", higher_is_better=True)
def mc1(lls: Sequence[float]) -> float:
    """TruthfulQA MC1: the best answer (index 0) has the highest log-likelihood."""
    return acc(lls, 0)


@register("mc2", higher_is_better=True)
def mc2(lls: Sequence[float], n_true: int) -> float:
    """TruthfulQA MC2: probability mass on the true answers (first ``n_true``), normalised."""
    lls = np.asarray(lls, dtype=np.float64)
    p = np.exp(lls - lls.max())  # shift for stability; cancels in the ratio
    return float(p[:n_true].sum() / p.sum())


# ---------------------------------------------------------------- generation
_ARTICLES = re.compile(r"\b(a|an|the)\b", flags=re.IGNORECASE)
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str, drop_articles: bool = False) -> str:
    """Lower-case, drop articles (optional, before punctuation), strip punctuation, squeeze spaces."""
    if drop_articles:
        text = _ARTICLES.sub(" ", text)
    text = text.lower().translate(_PUNCT)
    return " ".join(text.split())


@register("exact_match", higher_is_better=True)
def exact_match(prediction: str, references: Sequence[str], drop_articles: bool = False) -> float:
    """1 if the normalised prediction equals any normalised reference."""
    pred = normalize_answer(prediction, drop_articles)
    return float(any(pred == normalize_answer(ref, drop_articles) for ref in references))


# ---------------------------------------------------------------- ranking
def _rank_order(scores: Sequence[float]) -> np.ndarray:
    """Indices by decreasing score; ties keep the original order (stable)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


@register("map", higher_is_better=True)
def average_precision(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Average precision of the ranking by ``scores``; labels 1 = relevant (needs at least one)."""
    rel = np.asarray(labels)[_rank_order(scores)] > 0
    if not rel.any():
        raise ValueError("average_precision: no relevant candidate")
    hits = np.cumsum(rel)
    ranks = np.arange(1, len(rel) + 1)
    return float((hits[rel] / ranks[rel]).mean())


@register("mrr", higher_is_better=True)
def reciprocal_rank(scores: Sequence[float], labels: Sequence[int]) -> float:
    """1 / rank of the first relevant candidate."""
    rel = np.asarray(labels)[_rank_order(scores)] > 0
    if not rel.any():
        raise ValueError("reciprocal_rank: no relevant candidate")
    return 1.0 / (int(np.argmax(rel)) + 1)


@register("top1_acc", higher_is_better=True)
def top1_acc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """1 if the top-ranked candidate is relevant."""
    return float(np.asarray(labels)[_rank_order(scores)[0]] > 0)


def expected_random_ranking(n: int, r: int) -> dict[str, float]:
    """Expected MAP, MRR and top-1 accuracy of a uniformly random ranking (n candidates, r relevant).

    E[AP] = (1/n) * sum_k (1 + (k-1)(r-1)/(n-1)) / k; E[RR] = sum_k P(first relevant at k) / k.
    """
    if n == 1:
        return {"map": 1.0, "mrr": 1.0, "top1_acc": 1.0}
    harmonic = sum(1.0 / k for k in range(1, n + 1))
    e_ap = (harmonic + (r - 1) / (n - 1) * (n - harmonic)) / n
    e_rr = sum(math.comb(n - k, r - 1) / math.comb(n, r) / k for k in range(1, n - r + 2))
    return {"map": e_ap, "mrr": e_rr, "top1_acc": r / n}


# ---------------------------------------------------------------- language modelling
@register("token_perplexity", higher_is_better=False, aggregation="perplexity")
def token_perplexity(loglikelihood: float, n_tokens: int) -> tuple[float, int]:
    """Item (log-likelihood, tokens); aggregated as exp(-sum ll / sum tokens)."""
    return (float(loglikelihood), int(n_tokens))


@register("word_perplexity", higher_is_better=False, aggregation="perplexity")
def word_perplexity(loglikelihood: float, n_words: int) -> tuple[float, int]:
    """Item (log-likelihood, whitespace words); tokenizer-independent, comparable across models."""
    return (float(loglikelihood), int(n_words))


@register("bits_per_byte", higher_is_better=False, aggregation="bits_per_unit")
def bits_per_byte(loglikelihood: float, n_bytes: int) -> tuple[float, int]:
    """Item (log-likelihood, UTF-8 bytes); aggregated as -sum ll / sum bytes / ln 2."""
    return (float(loglikelihood), int(n_bytes))
