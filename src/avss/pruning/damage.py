"""Measured damage: every decoder layer removed alone, evaluated on a fixed item subset.

The reference a layer-importance proxy is judged against (DESIGN.md, standards of evidence): for layer
l, the drop of each task's metric when only l is removed (SciQ accuracy, wiki perplexity). The record
keeps the per-document items of the dense model and of every single-layer removal, so the report can
resample the items (paired bootstrap) for the damage's interval and for each proxy's Spearman correlation.

Replay (``replay=True``, the default): the log-likelihood batches of every run are the same rows in the
same order (same tasks, same packing), so with layer l removed, blocks 0..l-1 compute exactly what they
computed in the dense run. The dense run records every block's output per batch; the run without l replays
the first l of them (``avss.surgery.blocks_replayed``) and computes blocks l+1..L-1 only: the same numbers,
bit for bit, at about half the cost of L full evaluations. The recorded outputs take
(padded tokens of the damage items) x hidden size x L values of memory (e.g. 8k tokens x 576 x 30 floats =
0.55 GB for the default model). Generation tasks run in full.

damage.json: ``{"n_layers", "tasks": {task: n}, "dense": {task: TaskResult.to_dict()},
"without": [{task: TaskResult.to_dict()} per layer], "params"}`` (timings go to the timings file).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from avss.evaluation.backends import HFBackend, backend_workers
from avss.evaluation.runner import evaluate, load_tasks
from avss.hf_io import load_pretrained
from avss.surgery import blocks_replayed, layers_removed, record_block_outputs
from pipeutil.device import resolve_device
from pipeutil.io import PipelineError, write_json

log = logging.getLogger(__name__)


class _ReplayBackend(HFBackend):
    """HFBackend whose k-th log-likelihood batch records (``layer`` None: the dense run) or replays (layer l
    removed: the first l blocks) the block outputs of the dense run's k-th batch."""

    def __init__(self, model, tokenizer, store: list, layer: int | None, **opts):
        super().__init__(model, tokenizer, **opts)
        self.store, self.layer, self.calls = store, layer, 0

    def _forward_rows(self, batch, forward):
        k, self.calls = self.calls, self.calls + 1
        if self.layer is None:
            outs: dict[int, object] = {}
            with record_block_outputs(self.model, outs):
                result = super()._forward_rows(batch, forward)
            self.store.append([outs[i] for i in range(len(outs))])
            return result
        if k >= len(self.store):
            raise RuntimeError(f"layer_damage replay: batch {k} was not recorded in the dense run")
        width = max(len(r.tokens) for r in batch)
        first = self.store[k][0][0] if isinstance(self.store[k][0], tuple) else self.store[k][0]
        if tuple(first.shape[:2]) != (len(batch), width):
            raise RuntimeError(f"layer_damage replay: batch {k} is {len(batch)} x {width} tokens, the dense run's "
                               f"was {tuple(first.shape[:2])}")
        with blocks_replayed(self.model, self.store[k][:self.layer]):
            return super()._forward_rows(batch, forward)


def layer_damage(model, tokenizer, task_spec: Mapping[str, Mapping], datasets_dir, seed: int = 0,
                 backend_opts: Mapping | None = None, removed_ctx: Callable | None = None,
                 replay: bool = True) -> dict:
    """Dense model and each layer removed alone on the ``task_spec`` items; per-document items kept.

    replay: reuse the dense run's outputs of the blocks before the removed layer (module docstring).
    """
    if not task_spec:
        raise PipelineError("evaluate_pruning.damage.tasks: no task to measure the damage on")
    removed_ctx = removed_ctx or layers_removed
    tasks = load_tasks(task_spec, datasets_dir, seed, "evaluate_pruning.damage.tasks")
    n_layers = int(model.config.num_hidden_layers)

    store: list = []  # the dense run's block outputs per batch (replay)
    opts = dict(backend_opts or {})

    def run(removed: tuple[int, ...]) -> dict:
        with removed_ctx(model, removed) as m:
            backend = (_ReplayBackend(m, tokenizer, store, removed[0] if removed else None, **opts) if replay
                       else HFBackend(m, tokenizer, **opts))
            res = evaluate(backend, tasks)
        return {name: r.to_dict() for name, r in res.items()}

    seconds = {}
    start = time.perf_counter()
    dense = run(())
    seconds["dense"] = time.perf_counter() - start
    without = []
    for layer in range(n_layers):
        start = time.perf_counter()
        without.append(run((layer,)))
        seconds[f"layer_{layer}"] = time.perf_counter() - start
        log.info("layer %d removed: %.1f s; %s", layer, seconds[f"layer_{layer}"],
                 {t: round(v["metrics"][v["primary"]], 4) for t, v in without[-1].items()})
    store.clear()
    return {"n_layers": n_layers, "seed": seed, "tasks": {t.name: len(t.docs) for t in tasks},
            "dense": dense, "without": without, "seconds": seconds}


def run_layer_damage(model_dir: str | Path, datasets_dir: str | Path, params: Mapping, out_json: str | Path,
                     threads: int | None = None, timings_json: str | Path | None = None) -> dict:
    """Rule layer_damage: ``params`` is the evaluate_pruning section (its ``damage.tasks``, the backend options)."""
    if threads:
        torch.set_num_threads(int(threads))
    spec = (params.get("damage") or {}).get("tasks") or {}
    device = resolve_device(params.get("device", "auto"), "evaluate_pruning.device")
    model, tok = load_pretrained(model_dir, device=device, dtype=params.get("dtype", "float32"))
    opts = {k: params[k] for k in ("batch_size", "max_batch_tokens", "max_length", "share_prefix_min_tokens", "progress")
            if k in params}
    opts["workers"] = backend_workers(params, threads)
    start = time.perf_counter()
    record = layer_damage(model, tok, spec, datasets_dir, int(params.get("seed", 0)), opts)
    timings = {"seconds_per_model": record.pop("seconds"), "total_seconds": time.perf_counter() - start}
    record.update({"model": str(model_dir), "params": {"damage": dict(params.get("damage") or {}),
                                                       "seed": params.get("seed", 0)}})
    write_json(out_json, record)
    if timings_json:
        write_json(timings_json, timings)
    return {**record, **timings}
