"""Request records: the only thing that crosses from tasks to backends.

Tasks build requests, backends answer them, the runner groups them by ``kind``. Three kinds,
as in lm-evaluation-harness:

- ``loglikelihood``: log P(continuation | context) summed over the continuation's tokens,
  answered with ``(logprob, is_greedy)``.
- ``loglikelihood_rolling``: log P(text) of a whole text (disjoint windows of the backend's
  maximal length), answered with ``(logprob, n_tokens)`` so token-level perplexity is possible.
- ``generate_until``: greedy continuation of ``context`` cut before the first stop string,
  answered with the generated text.
"""
from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("loglikelihood", "loglikelihood_rolling", "generate_until")


@dataclass(frozen=True)
class LoglikelihoodRequest:
    context: str
    continuation: str
    kind: str = field(default="loglikelihood", init=False)


@dataclass(frozen=True)
class RollingRequest:
    text: str
    kind: str = field(default="loglikelihood_rolling", init=False)


@dataclass(frozen=True)
class GenerateRequest:
    context: str
    until: tuple[str, ...] = ("\n",)
    max_new_tokens: int = 32
    kind: str = field(default="generate_until", init=False)


Request = LoglikelihoodRequest | RollingRequest | GenerateRequest
