"""Pruning sweep: evaluate the dense model and every (method, ratio) pruned model on all tasks.

Input: the score phase's ``scores.json`` = ``{method: {"per_layer": [...], "ranking": [...],
"selected": {ratio: [layer indices]}}}``. Methods that select the same layers at some ratio
share one evaluation (cached by layer set); ratio 0 is the dense model for every method.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from avss.evaluation.backends import HFBackend
from avss.evaluation.runner import evaluate, load_tasks
from avss.hf_io import load_pretrained
from avss.surgery import layers_removed
from pipeutil.device import resolve_device
from pipeutil.io import PipelineError, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    method: str
    ratio: float
    removed: tuple[int, ...]

    @property
    def key(self) -> str:
        return "dense" if not self.removed else "drop-" + "-".join(map(str, self.removed))


def read_scores(path: str | Path) -> dict[str, dict]:
    """Read scores.json; keep the entries that look like methods (have ``selected``)."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path}: cannot read the layer scores ({exc})") from exc
    methods = {m: v for m, v in raw.items() if isinstance(v, dict) and "selected" in v}
    if not methods:
        raise PipelineError(f"{path}: no method with a 'selected' entry (expected {{method: {{'selected': {{ratio: [layers]}}}}}})")
    return methods


def plan_runs(methods: Mapping[str, dict], n_layers: int) -> list[Run]:
    """Every (method, ratio) of the scores file, plus ratio 0 (dense) for every method."""
    runs = []
    for method, entry in methods.items():
        runs.append(Run(method, 0.0, ()))
        for ratio_key, layers in entry["selected"].items():
            ratio = float(ratio_key)
            removed = tuple(sorted(int(i) for i in layers))
            if ratio == 0.0:
                continue
            bad = [i for i in removed if not 0 <= i < n_layers]
            if bad or len(set(removed)) != len(removed) or len(removed) >= n_layers:
                raise PipelineError(f"scores: method {method!r} ratio {ratio_key}: invalid layer selection {list(removed)} "
                                    f"for a model with {n_layers} layers")
            runs.append(Run(method, ratio, removed))
    return runs


def run_sweep(model, tokenizer, methods: Mapping[str, dict], task_spec: Mapping[str, Mapping],
              datasets_dir: str | Path, seed: int = 0, backend_opts: Mapping | None = None,
              removed_ctx: Callable | None = None) -> dict:
    """Evaluate every distinct layer set once; return the self-describing evaluations record.

    removed_ctx(model, layers): context manager yielding the pruned model and restoring the dense
    one on exit (default :func:`avss.prune.layers_removed`; the model is loaded once).
    """
    if removed_ctx is None:
        removed_ctx = layers_removed
    n_layers = int(model.config.num_hidden_layers)
    runs = plan_runs(methods, n_layers)
    tasks = load_tasks(task_spec, datasets_dir, seed)
    evaluations, seconds = {}, {}
    for run in runs:
        if run.key in evaluations:
            continue
        start = time.perf_counter()
        with removed_ctx(model, run.removed) as pruned:
            results = evaluate(HFBackend(pruned, tokenizer, **dict(backend_opts or {})), tasks)
        evaluations[run.key] = {name: res.to_dict() for name, res in results.items()}
        seconds[run.key] = time.perf_counter() - start
        log.info("%s (%d layers removed): %.1f s; %s", run.key, len(run.removed), seconds[run.key],
                 {n: round(r.metrics[r.primary], 4) for n, r in results.items()})
    return {
        "n_layers": n_layers,
        "seed": seed,
        "tasks": {t.name: len(t.docs) for t in tasks},
        "runs": [{"method": r.method, "ratio": r.ratio, "removed": list(r.removed), "key": r.key} for r in runs],
        "per_layer": {m: list(v.get("per_layer", [])) for m, v in methods.items()},
        "evaluations": evaluations,
        "seconds": seconds,  # wall-clock: run_evaluate_pruning moves it to the timings file
    }


def run_evaluate_pruning(model_dir: str | Path, scores_path: str | Path, datasets_dir: str | Path,
                         params: Mapping, out_json: str | Path, threads: int | None = None,
                         timings_json: str | Path | None = None) -> dict:
    """Phase ``evaluate_pruning``: load the dense model once, run the sweep, write evaluations.json
    (same params -> same bytes) and the wall-clock seconds per model to ``timings_json``.

    params: the ``evaluate_pruning`` section of params.yaml (device, dtype, batch_size, max_length,
    share_prefix_min_tokens, seed, progress, tasks).
    """
    if threads:
        torch.set_num_threads(int(threads))
    methods = read_scores(scores_path)
    device = resolve_device(params.get("device", "auto"), "evaluate_pruning.device")
    model, tok = load_pretrained(model_dir, device=device, dtype=params.get("dtype", "float32"))
    opts = {k: params[k] for k in ("batch_size", "max_batch_tokens", "max_length", "share_prefix_min_tokens", "progress") if k in params}
    start = time.perf_counter()
    record = run_sweep(model, tok, methods, params["tasks"], datasets_dir, int(params.get("seed", 0)), opts)
    timings = {"seconds_per_model": record.pop("seconds"), "total_seconds": time.perf_counter() - start}
    record.update({"model": str(model_dir), "model_type": model.config.model_type, "device": device,
                   "params": dict(params), "scores_meta": json.loads(Path(scores_path).read_text()).get("_meta")})
    write_json(out_json, record)
    if timings_json:
        write_json(timings_json, timings)
    return {**record, **timings}
