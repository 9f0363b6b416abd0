"""Training batches for contrastive fine-tuning: questions with truthful and hallucinated answers.

A batch is a set of questions; each contributes one truthful answer (the positive) and up to
``max_negatives`` hallucinated answers. Every (question, answer) becomes one sequence
``"Question: q\\nAnswer: a<eos>"`` with masks marking the question tokens and the answer tokens.
The choice of questions and answers depends only on (seed, step), so a resumed run sees the
same batches as an uninterrupted one.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from avss.records import HallucItem, prompt_of
from pipeutil.io import PipelineError


@dataclass(frozen=True)
class TrainQuestion:
    """One question with its truthful and hallucinated answers."""
    key: str                 # "<dataset>/<qid>"
    question: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]


@dataclass
class Encoded:
    """A padded batch; N sequences of length T, G questions (groups)."""
    input_ids: torch.Tensor       # [N, T]
    attention_mask: torch.Tensor  # [N, T]
    q_mask: torch.Tensor          # [N, T] question (prompt) tokens
    a_mask: torch.Tensor          # [N, T] answer tokens
    labels: torch.Tensor          # [N, T] answer token ids on positive rows, -100 elsewhere
    group: torch.Tensor           # [N] question index 0..G-1
    pos_rows: torch.Tensor        # [G] row of each question's positive


def group_questions(items: list[HallucItem]) -> list[TrainQuestion]:
    """Questions with at least one truthful answer, in a stable order."""
    by_key: dict[str, dict] = {}
    for it in items:
        g = by_key.setdefault(f"{it.dataset}/{it.qid}", {"q": it.question, "pos": [], "neg": []})
        g["pos" if it.truthful else "neg"].append(it.answer)
    out = [TrainQuestion(k, g["q"], tuple(g["pos"]), tuple(g["neg"])) for k, g in sorted(by_key.items()) if g["pos"]]
    if not out:
        raise PipelineError("finetune: no training question has a truthful answer")
    return out


def batch_for_step(questions: list[TrainQuestion], step: int, batch_questions: int, max_negatives: int,
                   seed: int) -> list[tuple[str, str, list[str]]]:
    """(question, positive, negatives) for each question of step ``step`` (epoch-wise shuffling)."""
    n = len(questions)
    b = max(1, min(batch_questions, n))
    per_epoch = n // b
    epoch, pos = divmod(step, per_epoch)
    order = random.Random(f"{seed}:epoch:{epoch}").sample(range(n), n)
    rng = random.Random(f"{seed}:step:{step}")
    out = []
    for i in order[pos * b:(pos + 1) * b]:
        q = questions[i]
        negs = rng.sample(list(q.negatives), min(max_negatives, len(q.negatives)))
        out.append((q.question, rng.choice(q.positives), negs))
    return out


def encode(tokenizer, groups: list[tuple[str, str, list[str]]], max_length: int) -> Encoded:
    """Tokenise prompt and answer separately so the masks are exact; right-pad to the longest row."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows, group, pos_rows = [], [], []
    for g, (question, positive, negatives) in enumerate(groups):
        prompt = tokenizer(prompt_of(question)).input_ids
        for j, ans in enumerate([positive, *negatives]):
            ans_ids = tokenizer(" " + ans.strip(), add_special_tokens=False).input_ids
            if tokenizer.eos_token_id is not None:
                ans_ids = ans_ids + [tokenizer.eos_token_id]
            ans_ids = ans_ids[:max(1, max_length // 2)]
            p = prompt[-(max_length - len(ans_ids)):]
            if j == 0:
                pos_rows.append(len(rows))
            rows.append((p, ans_ids, j == 0))
            group.append(g)
    width = max(len(p) + len(a) for p, a, _ in rows)
    n = len(rows)
    ids = torch.full((n, width), pad, dtype=torch.long)              # [N, T]
    att, qm, am = (torch.zeros((n, width), dtype=torch.long) for _ in range(3))  # [N, T] each
    labels = torch.full((n, width), -100, dtype=torch.long)          # [N, T]
    for r, (p, a, is_pos) in enumerate(rows):
        lp, la = len(p), len(a)
        ids[r, :lp + la] = torch.tensor(p + a)
        att[r, :lp + la] = 1
        qm[r, :lp] = 1
        am[r, lp:lp + la] = 1
        if is_pos:
            labels[r, lp:lp + la] = torch.tensor(a)
    return Encoded(ids, att, qm, am, labels, torch.tensor(group), torch.tensor(pos_rows))
