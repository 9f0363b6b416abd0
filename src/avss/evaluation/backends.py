"""Model backends: answer request lists, never see tasks.

``HFBackend`` wraps any Hugging Face causal LM (dense, pruned or fine-tuned) and follows
lm-evaluation-harness's conventions: no special tokens are added, trailing spaces of a context
move to the continuation, the continuation's tokens are ``enc(context + continuation)`` minus
the tokens of ``enc(context)``, an empty context is replaced by the BOS (else EOS) token, rolling
log-likelihoods use disjoint windows of ``max_length`` tokens, and generation is greedy and cut
before the first stop string. ``DummyBackend`` answers deterministically without weights.
"""
from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Sequence

import torch
from tqdm import tqdm

from .requests import GenerateRequest, LoglikelihoodRequest, RollingRequest

log = logging.getLogger(__name__)


def cut_at_stop(text: str, until: Sequence[str]) -> str:
    """Cut ``text`` before the earliest occurrence of any stop string."""
    cut = len(text)
    for stop in until:
        if stop:
            pos = text.find(stop)
            if pos != -1:
                cut = min(cut, pos)
    return text[:cut]


class DummyBackend:
    """Deterministic backend for tests: scores come from a hash of the request (or given functions).

    ``calls`` records ``(kind, n_requests)`` for every call, so tests can check the runner's grouping.
    """

    def __init__(self, ll_fn: Callable[[str, str], float] | None = None,
                 gen_fn: Callable[[str], str] | None = None):
        self.ll_fn = ll_fn or (lambda ctx, cont: -_hash01(ctx + "\x00" + cont) * 10.0)
        self.gen_fn = gen_fn or (lambda ctx: "dummy answer")
        self.calls: list[tuple[str, int]] = []

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[tuple[float, bool]]:
        self.calls.append(("loglikelihood", len(requests)))
        return [(float(self.ll_fn(r.context, r.continuation)), False) for r in requests]

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> list[tuple[float, int]]:
        self.calls.append(("loglikelihood_rolling", len(requests)))
        return [(-1.0 * len(r.text.split()), max(1, len(r.text.split()))) for r in requests]

    def generate_until(self, requests: Sequence[GenerateRequest]) -> list[str]:
        self.calls.append(("generate_until", len(requests)))
        return [cut_at_stop(self.gen_fn(r.context), r.until) for r in requests]


def _hash01(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


class HFBackend:
    """Batched scoring and greedy generation with a Hugging Face causal LM.

    share_prefix_min_tokens: requests with the same context of at least this many tokens are
    scored by running the context once and the continuations on its KV cache (same numbers,
    much faster for multiple choice with long contexts); 0 disables the sharing.
    """

    def __init__(self, model, tokenizer, batch_size: int = 8, max_length: int | None = None,
                 share_prefix_min_tokens: int = 64, progress: bool = True):
        self.model = model.eval()
        self.tok = tokenizer
        self.batch_size = int(batch_size)
        cfg_len = getattr(model.config, "max_position_embeddings", None) or 2048
        self.max_length = int(max_length or min(cfg_len, 2048))
        self.share_min = int(share_prefix_min_tokens)
        self.progress = progress
        self.device = next(model.parameters()).device
        self.prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._keep_arg = "logits_to_keep" in inspect.signature(model.forward).parameters

    # ------------------------------------------------------------------ tokenisation
    def encode(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Harness split: (context tokens, continuation tokens)."""
        n_space = len(context) - len(context.rstrip())
        if n_space:
            context, continuation = context[:-n_space], context[-n_space:] + continuation
        if not context:
            return [self.prefix_id], self.encode(continuation)
        ctx = self.encode(context)
        whole = self.encode(context + continuation)
        return ctx, whole[len(ctx):]

    # ------------------------------------------------------------------ public API
    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[tuple[float, bool]]:
        pairs = [self.encode_pair(r.context, r.continuation) for r in requests]
        results: list[tuple[float, bool] | None] = [None] * len(pairs)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (ctx, cont) in enumerate(pairs):
            groups.setdefault(tuple(ctx), []).append(i)
        shared = [(ctx, idx) for ctx, idx in groups.items() if self._can_share(ctx, idx, pairs)]
        shared_ids = {i for _, idx in shared for i in idx}
        plain = [i for i in range(len(pairs)) if i not in shared_ids]
        bar = tqdm(total=len(pairs), desc="loglikelihood", disable=not self.progress, leave=False)
        for ctx, idx in shared:
            for i, res in zip(idx, self._score_shared(list(ctx), [pairs[i][1] for i in idx])):
                results[i] = res
            bar.update(len(idx))
        seqs = [(pairs[i][0] + pairs[i][1], len(pairs[i][1])) for i in plain]
        for i, res in zip(plain, self._score_sequences(seqs, bar)):
            results[i] = res
        bar.close()
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> list[tuple[float, int]]:
        windows, owner = [], []
        for j, req in enumerate(requests):
            toks = self.encode(req.text)
            full = [self.prefix_id] + toks
            for start in range(0, len(toks), self.max_length):
                pred = toks[start:start + self.max_length]
                windows.append((full[start:start + len(pred) + 1], len(pred)))  # prev token + window
                owner.append(j)
        totals = [[0.0, 0] for _ in requests]
        bar = tqdm(total=len(windows), desc="rolling", disable=not self.progress, leave=False)
        for j, (seq, n), (lp, _) in zip(owner, windows, self._score_sequences(windows, bar)):
            totals[j][0] += lp
            totals[j][1] += n
        bar.close()
        return [(lp, n) for lp, n in totals]

    @torch.inference_mode()
    def generate_until(self, requests: Sequence[GenerateRequest]) -> list[str]:
        out: list[str | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((tuple(r.until), r.max_new_tokens), []).append(i)
        bar = tqdm(total=len(requests), desc="generate", disable=not self.progress, leave=False)
        for (until, max_new), idx in groups.items():
            enc = {i: self.encode(requests[i].context) or [self.prefix_id] for i in idx}
            idx = sorted(idx, key=lambda i: -len(enc[i]))
            for b in range(0, len(idx), self.batch_size):
                chunk = idx[b:b + self.batch_size]
                texts = self._generate([enc[i] for i in chunk], until, max_new)
                for i, text in zip(chunk, texts):
                    out[i] = cut_at_stop(text, until)
                bar.update(len(chunk))
        bar.close()
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ internals
    def _can_share(self, ctx, idx, pairs) -> bool:
        longest = max(len(pairs[i][1]) for i in idx)
        return (self.share_min > 0 and len(idx) > 1 and len(ctx) >= self.share_min
                and len(ctx) + longest <= self.max_length)

    def _score_sequences(self, seqs: list[tuple[list[int], int]], bar=None) -> list[tuple[float, bool]]:
        """Score the last ``n`` tokens of each sequence; right-padded batches, longest first."""
        results: list[tuple[float, bool] | None] = [None] * len(seqs)
        seqs = [(s[-(self.max_length + 1):], n) for s, n in seqs]
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i][0]))
        for b in range(0, len(order), self.batch_size):
            chunk = order[b:b + self.batch_size]
            width = max(len(seqs[i][0]) - 1 for i in chunk)
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)  # (B, T)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)  # (B, T)
            for row, i in enumerate(chunk):
                inp = seqs[i][0][:-1]
                ids[row, :len(inp)] = torch.tensor(inp)
                mask[row, :len(inp)] = 1
            # only the positions that predict a continuation token go through the LM head
            needed = sorted({p for i in chunk for p in range(len(seqs[i][0]) - 1 - seqs[i][1], len(seqs[i][0]) - 1)})
            col = {p: k for k, p in enumerate(needed)}
            kwargs = {"logits_to_keep": torch.tensor(needed, device=self.device)} if self._keep_arg else {}
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs).logits
            if not self._keep_arg:
                logits = logits[:, needed]  # (B, K, V)
            for row, i in enumerate(chunk):
                toks, n = seqs[i]
                end = len(toks) - 1
                results[i] = _continuation_score(logits[row, [col[p] for p in range(end - n, end)]], toks[-n:])
            if bar is not None:
                bar.update(len(chunk))
        return results  # type: ignore[return-value]

    def _score_shared(self, ctx: list[int], conts: list[list[int]]) -> list[tuple[float, bool]]:
        """Run ``ctx`` once, then every continuation on a copy of its KV cache."""
        kwargs = {"logits_to_keep": 1} if self._keep_arg else {}
        ctx_ids = torch.tensor([ctx], device=self.device)  # (1, C)
        first = self.model(input_ids=ctx_ids, use_cache=True, **kwargs)
        last = first.logits[0, -1:]  # (1, V) predicts the first continuation token
        cache = first.past_key_values
        width = max(len(c) for c in conts)
        results = []
        if width > 1:
            cache.batch_repeat_interleave(len(conts))
            ids = torch.full((len(conts), width - 1), self.pad_id, dtype=torch.long)  # (N, W-1)
            mask = torch.ones((len(conts), len(ctx) + width - 1), dtype=torch.long)  # (N, C+W-1)
            for row, c in enumerate(conts):
                ids[row, :len(c) - 1] = torch.tensor(c[:-1])
                mask[row, len(ctx) + len(c) - 1:] = 0
            rest = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                              past_key_values=cache, use_cache=False).logits  # (N, W-1, V)
        for row, c in enumerate(conts):
            step = torch.cat([last, rest[row, :len(c) - 1]]) if len(c) > 1 else last  # (len(c), V)
            results.append(_continuation_score(step, c))
        return results

    def _generate(self, encs: list[list[int]], until: tuple[str, ...], max_new: int) -> list[str]:
        """Greedy generation for one left-padded batch; returns the decoded new text."""
        from transformers import GenerationConfig

        encs = [e[-max(1, self.max_length - max_new):] for e in encs]
        width = max(len(e) for e in encs)
        ids = torch.full((len(encs), width), self.pad_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(encs), width), dtype=torch.long)  # (B, T)
        for row, e in enumerate(encs):
            ids[row, width - len(e):] = torch.tensor(e)
            mask[row, width - len(e):] = 1
        gen_cfg = GenerationConfig(max_new_tokens=max_new, do_sample=False, pad_token_id=self.pad_id,
                                   eos_token_id=self.tok.eos_token_id,
                                   stop_strings=[s for s in until if s] or None)
        out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                  generation_config=gen_cfg, tokenizer=self.tok)  # (B, T + new)
        return [self.tok.decode(row[width:], skip_special_tokens=True) for row in out.cpu()]


def _continuation_score(logits: torch.Tensor, targets: list[int]) -> tuple[float, bool]:
    """Sum of log-probs of ``targets`` under ``logits`` (n, V) and whether all are greedy."""
    logp = torch.log_softmax(logits.float(), dim=-1)  # (n, V)
    tgt = torch.tensor(targets, device=logits.device)  # (n,)
    total = logp.gather(-1, tgt[:, None]).sum().item()
    greedy = bool((logp.argmax(-1) == tgt).all().item())
    return float(total), greedy


