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

from avss.evaluation.backends import tree_attention_mask
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
    """A padded batch of R rows of T tokens holding N (question, answer) sequences of G questions.

    Packed (the default): one row per question, its prompt once and then each of its answers as a branch
    that attends to the prompt and to itself only (tree attention mask, each branch with the position
    ids it would have alone), so the prompt is computed once instead of once per answer. Unpacked: one
    row per (question, answer) sequence, causal. Both give the same losses when no prompt is cut.
    """
    input_ids: torch.Tensor       # [R, T]
    position_ids: torch.Tensor    # [R, T]
    segments: torch.Tensor        # [R, T] 0 = prompt, k >= 1 = answer branch k, -1 = padding
    q_mask: torch.Tensor          # [R, T] question (prompt) tokens
    q_rows: torch.Tensor          # [G] row whose prompt tokens give each question's anchor vector
    a_rows: torch.Tensor          # [N] row of each answer
    a_mask: torch.Tensor          # [N, T] each answer's tokens in its row
    labels: torch.Tensor          # [R, T] token the logits at this position must predict (positive answers), -100 elsewhere
    group: torch.Tensor           # [N] question index 0..G-1 of each answer
    pos_rows: torch.Tensor        # [G] answer index (0..N-1) of each question's positive

    def attention_mask(self, dtype: torch.dtype) -> torch.Tensor:
        """Additive mask [R, 1, T, T] (prompt + own branch, causal; padding masked)."""
        return tree_attention_mask(self.segments, dtype)


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


def encode(tokenizer, groups: list[tuple[str, str, list[str]]], max_length: int, pack: bool = True) -> Encoded:
    """Tokenise prompt and answers separately so the masks are exact; right-pad to the longest row.

    Each answer (+ EOS) is cut to max_length // 2 tokens and the prompt from the left so that every
    (prompt, answer) sequence fits in ``max_length``: per sequence when unpacked, with the question's
    longest answer when packed (its answers share one prompt).
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows: list[tuple[list[int], list[list[int]], bool]] = []  # (prompt, answers, first answer is positive)
    a_rows, group, pos_rows, q_rows = [], [], [], []
    for g, (question, positive, negatives) in enumerate(groups):
        prompt = tokenizer(prompt_of(question)).input_ids
        answers = []
        for ans in [positive, *negatives]:
            ids = tokenizer(" " + ans.strip(), add_special_tokens=False).input_ids
            if tokenizer.eos_token_id is not None:
                ids = ids + [tokenizer.eos_token_id]
            answers.append(ids[:max(1, max_length // 2)])
        pos_rows.append(len(group))
        group += [g] * len(answers)
        q_rows.append(len(rows))  # the (first) row of the question: its positive's when unpacked
        if pack:
            a_rows += [len(rows)] * len(answers)
            rows.append((prompt[-(max_length - max(map(len, answers))):], answers, True))
        else:
            for j, a in enumerate(answers):
                a_rows.append(len(rows))
                rows.append((prompt[-(max_length - len(a)):], [a], j == 0))
    width = max(len(p) + sum(map(len, answers)) for p, answers, _ in rows)
    n_rows, n = len(rows), len(a_rows)
    ids = torch.full((n_rows, width), pad, dtype=torch.long)          # [R, T]
    pos = torch.zeros((n_rows, width), dtype=torch.long)              # [R, T]
    seg = torch.full((n_rows, width), -1, dtype=torch.long)           # [R, T]
    qm = torch.zeros((n_rows, width), dtype=torch.long)               # [R, T]
    am = torch.zeros((n, width), dtype=torch.long)                    # [N, T]
    labels = torch.full((n_rows, width), -100, dtype=torch.long)      # [R, T]
    k = 0
    for r, (p, answers, first_positive) in enumerate(rows):
        lp = len(p)
        ids[r, :lp] = torch.tensor(p)
        pos[r, :lp] = torch.arange(lp)
        seg[r, :lp] = 0
        qm[r, :lp] = 1
        start = lp
        for b, a in enumerate(answers):
            la = len(a)
            ids[r, start:start + la] = torch.tensor(a)
            pos[r, start:start + la] = torch.arange(lp, lp + la)
            seg[r, start:start + la] = b + 1
            am[k, start:start + la] = 1
            if first_positive and b == 0:  # the last prompt token predicts a[0], answer token j predicts a[j + 1]
                labels[r, lp - 1] = a[0]
                if la > 1:
                    labels[r, start:start + la - 1] = torch.tensor(a[1:])
            start += la
            k += 1
    return Encoded(ids, pos, seg, qm, torch.tensor(q_rows), torch.tensor(a_rows), am, labels,
                   torch.tensor(group), torch.tensor(pos_rows))
