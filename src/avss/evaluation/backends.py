"""Model backends: answer request lists, never see tasks.

``HFBackend`` wraps any Hugging Face causal LM (dense, pruned or fine-tuned) and follows
lm-evaluation-harness's conventions: no special tokens are added, trailing spaces of a context
move to the continuation, the continuation's tokens are ``enc(context + continuation)`` minus
the tokens of ``enc(context)``, an empty context is replaced by the BOS (else EOS) token, rolling
log-likelihoods use disjoint windows of ``max_length`` tokens, and generation is greedy and cut
before the first stop string. ``DummyBackend`` answers deterministically without weights.

Speed without changing the numbers: requests sharing a context become one row (the context once, each
continuation a branch under a tree attention mask with its own position ids; single-token choices
need the context alone), rows are sorted by length and batched across documents under a token budget,
only the positions that predict a continuation token go through the LM head, and greedy generation runs
a prefix shared by every request (a few-shot primer) once and decodes on copies of its KV cache,
dropping finished rows from the batch.

CPU parallelism (``workers`` > 1): the batches of log-likelihood (choice) requests run that many at once,
each on one torch thread, instead of one batch at a time with ``workers`` threads inside each matrix
product. The products of a model like the default 135M one split poorly across threads: on 2 cores the
benchmark's SciQ + SST-2 items take 0.90x the wall time, with the same numbers (each batch computes exactly
what it computes alone on one thread). Perplexity windows and generation stay one batch at a time on all
threads (long plain rows whose products split well: 16 wiki windows took 1.10x the time on two workers in a one-off
measurement), and
so does a group of fewer than ``PARALLEL_MIN_PER_WORKER`` x workers batches. Memory: ``workers`` batches'
activations at once; the weights are shared.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

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


PARALLEL_MIN_PER_WORKER = 2  # fewer batches than this x workers run one at a time on all threads
SHARED_ROWS_MIN = 16  # tokens: a shorter common prefix of every row is not worth a cached pass


def _hash01(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


@dataclass
class _Row:
    """One forward-pass row: a shared context followed by branches, each branch attending to the context
    and to itself only (a prefix tree packed into one sequence); a plain sequence is a row without branches.

    tokens / positions / segments are in physical order (segment 0 = context, k >= 1 = branch k).
    targets: (request index, physical positions whose logits predict, target tokens); every predicting
    position lies in the last ``n_keep`` tokens of the row.
    """

    tokens: list[int]
    positions: list[int]
    segments: list[int]
    targets: list[tuple[int, list[int], list[int]]]

    @property
    def n_keep(self) -> int:
        return len(self.tokens) - min(p[0] for _, p, _ in self.targets)


def backend_workers(params, threads: int | None) -> int:
    """HFBackend ``workers`` of an evaluation section: its threads when ``batch_parallel`` (default true), else 1."""
    return max(1, int(threads or 1)) if params.get("batch_parallel", True) else 1


def tree_attention_mask(seg: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention mask (B, 1, W, W) of rows in physical order with segments ``seg`` (B, W): 0 = the
    shared context, k >= 1 = branch k, -1 = padding. Query i sees key j <= i of the context or of its own
    branch; a padding query sees itself only (no empty rows)."""
    width = seg.shape[1]
    phys = torch.arange(width, device=seg.device)
    causal = phys[None, :, None] >= phys[None, None, :]  # (1, W, W)
    key = seg[:, None, :]  # (B, 1, W)
    allowed = causal & (key >= 0) & ((key == 0) | (key == seg[:, :, None]))  # (B, W, W)
    allowed |= torch.eye(width, dtype=torch.bool, device=seg.device)[None]
    mask = torch.zeros(allowed.shape, dtype=dtype, device=seg.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]  # (B, 1, W, W)


class HFBackend:
    """Batched scoring and greedy generation with a Hugging Face causal LM.

    share_prefix_min_tokens: requests with the same context of at least this many tokens are packed into
    one row (context once, then every continuation as a branch with a tree attention mask and the position
    ids it would have alone: same numbers as one sequence per request, a fraction of the tokens); the
    greedy generation of requests sharing a token prefix of at least this many tokens (a few-shot primer)
    runs that prefix once and reuses its KV cache, and so do the log-likelihood rows of documents that
    start with the same primer of at least ``SHARED_ROWS_MIN`` tokens (TruthfulQA's 6-shot prompt: 2.6x
    less time for its MC1/MC2 requests, the same scores to float rounding). 0 disables all three.
    max_batch_tokens: rows are sorted by length and batched up to ``batch_size`` rows and this many
    (padded) tokens per forward pass.
    workers: log-likelihood batches computed at once, each on one torch thread (CPU; module docstring); 1 = one
    batch at a time on the process's torch threads. A model on CUDA, a custom ``forward`` of :meth:`score_rows` and a
    subclass that overrides ``_forward_rows`` (state across batches) run one batch at a time.
    """

    def __init__(self, model, tokenizer, batch_size: int = 8, max_length: int | None = None,
                 share_prefix_min_tokens: int = 1, max_batch_tokens: int = 4096, progress: bool = True,
                 workers: int = 1):
        self.model = model.eval()
        self.tok = tokenizer
        self.batch_size = int(batch_size)
        cfg_len = getattr(model.config, "max_position_embeddings", None) or 2048
        self.max_length = int(max_length or min(cfg_len, 2048))
        self.share_min = int(share_prefix_min_tokens)
        self.max_batch_tokens = int(max_batch_tokens)
        self.min_fill = 0.9  # a batch's rows are at least this fraction of its longest (sorted by length)
        self.progress = progress
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._keep_arg = "logits_to_keep" in inspect.signature(model.forward).parameters
        self._shared = None  # (KV cache, length) of the primer the rows being scored share
        if int(workers) < 1:
            raise ValueError(f"HFBackend: workers must be >= 1, got {workers}")
        self.workers = int(workers) if self.device.type == "cpu" else 1
        self._lock = threading.Lock()  # stats updates from worker threads
        self.stats = {"rows": 0, "forward_calls": 0, "tokens": 0, "padded_tokens": 0, "generated_tokens": 0}

    def _count(self, **added: int) -> None:
        with self._lock:
            for key, n in added.items():
                self.stats[key] += int(n)

    @contextmanager
    def _one_thread_each(self):
        """torch at one intra-op thread in the calling thread for the block (worker threads set their own)."""
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    # ------------------------------------------------------------------ tokenisation
    def encode(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        """``encode`` of every text; each distinct text is tokenised once, all in one tokenizer call (a fast
        tokenizer encodes a batch on all cores: SciQ's 800 requests take 5x less than one call each)."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return []
        ids = dict(zip(unique, self.tok(unique, add_special_tokens=False)["input_ids"]))
        return [list(ids[t]) for t in texts]

    @staticmethod
    def _split(context: str, continuation: str) -> tuple[str, str]:
        """The harness moves the context's trailing whitespace to the front of the continuation."""
        n_space = len(context) - len(context.rstrip())
        if n_space:
            return context[:-n_space], context[-n_space:] + continuation
        return context, continuation

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """Harness split of every (context, continuation): (context tokens, continuation tokens), where the
        continuation's tokens are those of context + continuation after the context's own tokens."""
        split = [self._split(c, x) for c, x in pairs]
        texts = []
        for ctx, cont in split:
            texts += [ctx, ctx + cont] if ctx else [cont]
        enc = iter(self.encode_many(texts))
        out = []
        for ctx, _ in split:
            if not ctx:
                out.append(([self.prefix_id], next(enc)))
                continue
            c, whole = next(enc), next(enc)
            out.append((c, whole[len(c):]))
        return out

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Harness split: (context tokens, continuation tokens)."""
        return self.encode_pairs([(context, continuation)])[0]

    # ------------------------------------------------------------------ public API
    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[tuple[float, bool]]:
        pairs = self.encode_pairs([(r.context, r.continuation) for r in requests])
        return self.score_rows(self.pack_pairs(pairs), len(pairs), "loglikelihood", parallel=True)

    @torch.inference_mode()
    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> list[tuple[float, int]]:
        windows, owner = [], []
        for j, toks in enumerate(self.encode_many([req.text for req in requests])):
            full = [self.prefix_id] + toks
            for start in range(0, len(toks), self.max_length):
                pred = toks[start:start + self.max_length]
                windows.append((full[start:start + 1], pred))  # (token before the window, window)
                owner.append(j)
        rows = [self._plain_row(k, ctx, cont) for k, (ctx, cont) in enumerate(windows)]
        scores = self.score_rows(rows, len(windows), "rolling")
        totals = [[0.0, 0] for _ in requests]
        for j, (_, cont), (lp, _) in zip(owner, windows, scores):
            totals[j][0] += lp
            totals[j][1] += len(cont)
        return [(lp, n) for lp, n in totals]

    @torch.inference_mode()
    def generate_until(self, requests: Sequence[GenerateRequest]) -> list[str]:
        out: list[str | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((tuple(r.until), r.max_new_tokens), []).append(i)
        bar = tqdm(total=len(requests), desc="generate", disable=not self.progress, leave=False)
        for (until, max_new), idx in groups.items():
            keep = max(1, self.max_length - max_new)
            enc = {i: (e or [self.prefix_id])[-keep:]
                   for i, e in zip(idx, self.encode_many([requests[i].context for i in idx]))}
            prefix = self._common_prefix([enc[i] for i in idx])
            cache = self._prefix_cache(prefix)
            idx = sorted(idx, key=lambda i: -len(enc[i]))
            for b in range(0, len(idx), self.batch_size):
                chunk = idx[b:b + self.batch_size]
                texts = self._greedy(prefix, cache, [enc[i][len(prefix):] for i in chunk], until, max_new)
                for i, text in zip(chunk, texts):
                    out[i] = cut_at_stop(text, until)
                bar.update(len(chunk))
        bar.close()
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ log-likelihood rows
    def _plain_row(self, req: int, ctx: list[int], cont: list[int]) -> _Row:
        """One request as one sequence, truncated on the left to max_length + 1 tokens (harness rule)."""
        seq = (ctx + cont)[-(self.max_length + 1):]
        n = min(len(cont), len(seq) - 1)
        tokens = seq[:-1]
        first = len(tokens) - n
        return _Row(tokens, list(range(len(tokens))), [0] * len(tokens),
                    [(req, list(range(first, len(tokens))), seq[-n:])])

    def pack_pairs(self, pairs: Sequence[tuple[list[int], list[int]]]) -> list[_Row]:
        """Rows for (context, continuation) token pairs: one row per shared context when it fits."""
        if self.share_min <= 0:
            return [self._plain_row(i, c, x) for i, (c, x) in enumerate(pairs)]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (ctx, _) in enumerate(pairs):
            groups.setdefault(tuple(ctx), []).append(i)
        rows = []
        for ctx, idx in groups.items():
            ctx = list(ctx)
            branches: dict[tuple[int, ...], int] = {}  # branch tokens (continuation minus its last) -> start
            tokens, positions, segments = list(ctx), list(range(len(ctx))), [0] * len(ctx)
            for i in idx:
                b = tuple(pairs[i][1][:-1])
                if b and b not in branches:
                    branches[b] = len(tokens)
                    tokens += b
                    positions += range(len(ctx), len(ctx) + len(b))
                    segments += [len(branches)] * len(b)
            fits = len(tokens) <= self.max_length and all(len(ctx) + len(pairs[i][1]) <= self.max_length + 1
                                                          for i in idx)
            if len(ctx) < self.share_min or not fits:
                rows += [self._plain_row(i, ctx, pairs[i][1]) for i in idx]
                continue
            targets = []
            for i in idx:
                cont = pairs[i][1]
                start = branches.get(tuple(cont[:-1]), 0)
                targets.append((i, [len(ctx) - 1] + list(range(start, start + len(cont) - 1)), list(cont)))
            rows.append(_Row(tokens, positions, segments, targets))
        return rows

    def _batches(self, rows: list[_Row]) -> list[list[_Row]]:
        """Longest first; at most batch_size rows and max_batch_tokens padded tokens per batch, and a row
        shorter than ``min_fill`` x the batch's width starts a new batch (padding is computed like real
        tokens: on SciQ this cuts the padded tokens from +24 % to +4 % of the real ones)."""
        order = sorted(rows, key=lambda r: -len(r.tokens))
        shared = self._shared[1] / 2 if self._shared else 0  # cached prefix keys: attention and memory, no MLP
        batches, cur = [], []
        for row in order:
            width = len(cur[0].tokens) if cur else len(row.tokens)
            if cur and (len(cur) >= self.batch_size or (len(cur) + 1) * (width + shared) > self.max_batch_tokens
                        or len(row.tokens) < self.min_fill * width):
                batches.append(cur)
                cur = []
            cur.append(row)
        return batches + ([cur] if cur else [])

    def score_rows(self, rows: list[_Row], n_requests: int, desc: str = "loglikelihood",
                   forward: Callable | None = None, parallel: bool = False) -> list[tuple[float, bool]]:
        """(sum of log-probs, all greedy) of every request target of ``rows``, indexed by request.

        forward(batch, kwargs) -> logits [B, K, V] replaces the model call (used by the leave-one-layer-out
        replay); the default calls the backend's model.
        """
        results: list[tuple[float, bool] | None] = [None] * n_requests
        bar = tqdm(total=n_requests, desc=desc, disable=not self.progress, leave=False)
        groups = self._prefix_groups(rows) if forward is None else [([], rows)]
        try:
            for prefix, group in groups:
                # a primer these rows start with (a few-shot prompt): run once, its KV cache reused
                self._shared = (self._prefix_cache(prefix), len(prefix)) if prefix else None
                if prefix:
                    group = [_Row(r.tokens[len(prefix):], r.positions[len(prefix):], r.segments[len(prefix):],
                                  [(q, [p - len(prefix) for p in pos], tgt) for q, pos, tgt in r.targets])
                             for r in group]
                batches = self._batches(group)
                for batch, (logits, offsets) in zip(batches, self._forwards(batches, forward, parallel)):
                    for r, row in enumerate(batch):
                        for req, pos, tgt in row.targets:
                            results[req] = _continuation_score(logits[r, [p + offsets[r] for p in pos]], tgt)
                        bar.update(len(row.targets))
        finally:
            self._shared = None
        bar.close()
        missing = [i for i, v in enumerate(results) if v is None]
        if missing:
            raise RuntimeError(f"backend: {len(missing)} requests were not scored (first {missing[0]})")
        return results  # type: ignore[return-value]

    def _forwards(self, batches: list[list[_Row]], forward: Callable | None, parallel: bool) -> Iterator:
        """(logits, offsets) of every batch, in order. With ``parallel``, the plain model forward, workers > 1
        and at least ``PARALLEL_MIN_PER_WORKER`` x workers batches, up to ``workers`` batches run at once on
        worker threads of one torch thread each (inputs and model call both on the worker; the counters are
        locked, the shared cache is only read; ``workers`` + 1 results in flight, so memory stays bounded).
        Fewer batches run one at a time on the process's threads: with two or three, one worker would sit idle
        while the other computes a big one on one thread."""
        parallel = (parallel and forward is None and type(self)._forward_rows is HFBackend._forward_rows
                    and self.workers > 1 and len(batches) >= PARALLEL_MIN_PER_WORKER * self.workers)
        if not parallel:
            yield from (self._forward_rows(batch, forward) for batch in batches)
            return

        def call(batch):
            with torch.inference_mode():
                return self._forward_rows(batch, None)

        with self._one_thread_each(), ThreadPoolExecutor(self.workers, initializer=torch.set_num_threads,
                                                         initargs=(1,), thread_name_prefix="hfbackend") as pool:
            pending: deque = deque()
            try:
                for batch in batches:
                    pending.append(pool.submit(call, batch))
                    if len(pending) > self.workers:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for fut in pending:
                    fut.cancel()

    def batch_inputs(self, batch: list[_Row]) -> tuple[dict, list[int]]:
        """Model inputs of one batch (left-padded rows, tree mask) and each row's logit offset."""
        width = max(len(r.tokens) for r in batch)
        keep = max(r.n_keep for r in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)  # (B, W)
        pos = torch.zeros((len(batch), width), dtype=torch.long)  # (B, W)
        seg = torch.full((len(batch), width), -1, dtype=torch.long)  # (B, W); -1 = padding
        for r, row in enumerate(batch):
            n = len(row.tokens)
            ids[r, width - n:] = torch.tensor(row.tokens)
            pos[r, width - n:] = torch.tensor(row.positions)
            seg[r, width - n:] = torch.tensor(row.segments)
        self._count(rows=len(batch), forward_calls=1, tokens=sum(len(r.tokens) for r in batch),
                    padded_tokens=len(batch) * width)
        mask = self._tree_mask(seg)  # (B, 1, W, W)
        kwargs = {"input_ids": ids.to(self.device), "position_ids": pos.to(self.device), "use_cache": False}
        if self._shared:  # every query sees the whole cached prefix: (B, 1, W, P + W)
            cache, n_p = self._shared
            mask = torch.cat([torch.zeros((*mask.shape[:3], n_p), dtype=mask.dtype), mask], -1)
            kwargs["past_key_values"] = copy.deepcopy(cache)
            kwargs["past_key_values"].batch_repeat_interleave(len(batch))
        kwargs["attention_mask"] = mask.to(self.device)
        if self._keep_arg:
            kwargs["logits_to_keep"] = keep
        # physical position p of row r -> index in the kept logits
        return kwargs, [keep - len(r.tokens) for r in batch]

    def _forward_rows(self, batch: list[_Row], forward: Callable | None):
        kwargs, offsets = self.batch_inputs(batch)
        keep = kwargs.get("logits_to_keep")
        logits = forward(batch, kwargs) if forward is not None else self.model(**kwargs).logits
        if keep is None:
            keep = max(r.n_keep for r in batch)
            logits = logits[:, -keep:]  # (B, K, V)
        return logits, offsets

    def _prefix_groups(self, rows: list[_Row]) -> list[tuple[list[int], list[_Row]]]:
        """Rows grouped by a shared primer: (prefix, rows) per group of >= 2 rows that start with the same
        ``SHARED_ROWS_MIN`` context tokens (one task's few-shot prompt), then ([], every other row)."""
        if self.share_min <= 0:
            return [([], rows)]
        keyed: dict[tuple[int, ...], list[_Row]] = {}
        rest = []
        for r in rows:
            if self._rows_prefix([r, r]):
                keyed.setdefault(tuple(r.tokens[:SHARED_ROWS_MIN]), []).append(r)
            else:
                rest.append(r)
        groups = []
        for group in keyed.values():
            prefix = self._rows_prefix(group) if len(group) > 1 else []
            if prefix:
                groups.append((prefix, group))
            else:
                rest += group
        return groups + ([([], rest)] if rest else [])

    def _rows_prefix(self, rows: list[_Row]) -> list[int]:
        """Longest token prefix of the context that every row starts with (at least ``SHARED_ROWS_MIN``
        tokens, else none), ending before each row's first predicting position."""
        if self.share_min <= 0 or not rows:
            return []
        limit = min(min(min(p[0] for _, p, _ in r.targets) for r in rows), min(len(r.tokens) for r in rows) - 1)
        first = rows[0]
        k = 0
        while k < limit and all(r.tokens[k] == first.tokens[k] and r.positions[k] == k and r.segments[k] == 0
                                for r in rows):
            k += 1
        return first.tokens[:k] if k >= max(self.share_min, SHARED_ROWS_MIN) else []

    def _tree_mask(self, seg: torch.Tensor) -> torch.Tensor:
        return tree_attention_mask(seg, self.dtype)

    # ------------------------------------------------------------------ generation
    def _common_prefix(self, encs: list[list[int]]) -> list[int]:
        """Longest token prefix shared by every context, leaving each at least one token of its own."""
        if self.share_min <= 0 or len(encs) < 2:
            return []
        first, n = encs[0], min(len(e) for e in encs) - 1
        k = 0
        while k < n and all(e[k] == first[k] for e in encs):
            k += 1
        return first[:k] if k >= max(self.share_min, 2) else []

    def _prefix_cache(self, prefix: list[int]):
        if not prefix:
            return None
        ids = torch.tensor([prefix], device=self.device)  # (1, P)
        kwargs = {"logits_to_keep": 1} if self._keep_arg else {}
        out = self.model(input_ids=ids, use_cache=True, **kwargs)
        self._count(tokens=len(prefix))
        return out.past_key_values

    def _greedy(self, prefix: list[int], cache, suffixes: list[list[int]], until: tuple[str, ...],
                max_new: int) -> list[str]:
        """Greedy decoding of one batch: prefix (cached) + left-padded suffixes; rows leave the batch
        once they produced EOS or a stop string. Returns the decoded new text of every row."""
        n_p, width, n = len(prefix), max(len(s) for s in suffixes), len(suffixes)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)  # (B, Q)
        mask = torch.zeros((n, n_p + width), dtype=torch.long)  # (B, P + Q)
        mask[:, :n_p] = 1
        for r, s in enumerate(suffixes):
            ids[r, width - len(s):] = torch.tensor(s)
            mask[r, n_p + width - len(s):] = 1
        pos = (mask.cumsum(1) - 1).clamp_min(0)[:, n_p:]  # (B, Q)
        past = None
        if cache is not None:
            past = copy.deepcopy(cache)
            past.batch_repeat_interleave(n)
        kwargs = {"logits_to_keep": 1} if self._keep_arg else {}
        self._count(tokens=int(mask[:, n_p:].sum()))
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                         position_ids=pos.to(self.device), past_key_values=past, use_cache=True, **kwargs)
        gen: list[list[int]] = [[] for _ in range(n)]
        live = list(range(n))  # rows still generating, in batch order of the cache
        eos = self.tok.eos_token_id
        for step in range(max_new):
            nxt = out.logits[:, -1].argmax(-1).tolist()  # (B_live,)
            still = []
            for k, r in enumerate(live):
                if nxt[k] == eos:
                    continue
                gen[r].append(nxt[k])
                text = self.tok.decode(gen[r], skip_special_tokens=True)
                if not any(s and s in text for s in until):
                    still.append(k)
            self._count(generated_tokens=len(live))
            if not still or step == max_new - 1:
                break
            sel = torch.tensor(still)
            live = [live[k] for k in still]
            past = out.past_key_values
            if len(still) < mask.shape[0]:
                past.batch_select_indices(sel.to(self.device))
                mask, pos = mask[sel], pos[sel]
            mask = torch.cat([mask, torch.ones((len(live), 1), dtype=torch.long)], 1)  # (B_live, T + 1)
            pos = pos[:, -1:] + 1  # (B_live, 1)
            step_ids = torch.tensor([[gen[r][-1]] for r in live])  # (B_live, 1)
            out = self.model(input_ids=step_ids.to(self.device), attention_mask=mask.to(self.device),
                             position_ids=pos.to(self.device), past_key_values=past, use_cache=True, **kwargs)
        return [self.tok.decode(g, skip_special_tokens=True) for g in gen]


def _continuation_score(logits: torch.Tensor, targets: list[int]) -> tuple[float, bool]:
    """Sum of log-probs of ``targets`` under ``logits`` (n, V) and whether all are greedy."""
    logp = torch.log_softmax(logits.float(), dim=-1)  # (n, V)
    tgt = torch.tensor(targets, device=logits.device)  # (n,)
    total = logp.gather(-1, tgt[:, None]).sum().item()
    greedy = bool((logp.argmax(-1) == tgt).all().item())
    return float(total), greedy


