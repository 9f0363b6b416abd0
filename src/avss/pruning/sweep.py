"""Pruning sweep: evaluate the dense model and every (method, ratio) pruned model on all tasks.

Input: the score phase's ``scores.json`` = ``{method: {"per_layer": [...], "ranking": [...],
"selected": {ratio: [layer indices]}}}``. Methods that select the same layers at some ratio
share one evaluation (cached by layer set); ratio 0 is the dense model for every method.

Two nested item sets: the dense model and every method at the decision ratio (``summary.ratio``)
are evaluated on the task spec's ``limit`` items (``n_docs`` for wiki); the other ratios on the
first ``sweep_limit`` of them (``sweep_n_docs``), only for ``sweep_methods``. Being nested (the same
seeded permutation; wiki documents counted from the end), the dense model is evaluated once and
every comparison pairs the same items (avss.pruning.uncertainty aligns them by document id).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
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
    items: str = "decision"  # decision (summary.ratio and dense) | sweep (the other ratios, fewer items)

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


def plan_runs(methods: Mapping[str, dict], n_layers: int, decision_ratio: float | None = None,
              sweep_methods: Sequence[str] | None = None) -> list[Run]:
    """Every (method, ratio) of the scores file, plus ratio 0 (dense) for every method.

    decision_ratio: evaluated on the decision item set for every method (None: every ratio is);
    the other ratios only for ``sweep_methods`` (None = all) on the sweep item set.
    """
    if sweep_methods is not None:
        unknown = [m for m in sweep_methods if m not in methods]
        if unknown:
            raise PipelineError(f"evaluate_pruning.sweep_methods: {unknown} not computed by the score phase "
                                f"(scores.json methods: {list(methods)})")
    if decision_ratio is not None and not any(abs(float(r) - decision_ratio) < 1e-9 for e in methods.values()
                                              for r in e["selected"]):
        raise PipelineError(f"evaluate_pruning.summary.ratio: {decision_ratio} is not a ratio of scores.json "
                            f"(score.ratios: {sorted({float(r) for e in methods.values() for r in e['selected']})})")
    runs = []
    for method, entry in methods.items():
        runs.append(Run(method, 0.0, ()))
        for ratio_key, layers in entry["selected"].items():
            ratio = float(ratio_key)
            removed = tuple(sorted(int(i) for i in layers))
            decision = decision_ratio is None or abs(ratio - decision_ratio) < 1e-9
            if ratio == 0.0 or not (decision or sweep_methods is None or method in sweep_methods):
                continue
            bad = [i for i in removed if not 0 <= i < n_layers]
            if bad or len(set(removed)) != len(removed) or len(removed) >= n_layers:
                raise PipelineError(f"scores: method {method!r} ratio {ratio_key}: invalid layer selection {list(removed)} "
                                    f"for a model with {n_layers} layers")
            runs.append(Run(method, ratio, removed, "decision" if decision else "sweep"))
    return runs


def sweep_task_spec(task_spec: Mapping[str, Mapping], where: str = "evaluate_pruning.tasks") -> dict:
    """The other ratios' tasks: ``limit`` -> ``sweep_limit``, wiki ``n_docs`` -> ``sweep_n_docs`` (default:
    the same items); a sweep set larger than the decision set is an error naming the key (it must be nested)."""
    out = {}
    for name, opts in task_spec.items():
        opts = dict(opts or {})
        key, small = ("n_docs", "sweep_n_docs") if name == "wiki" else ("limit", "sweep_limit")
        if opts.get(small) is not None:
            big = opts.get(key)
            if big is not None and int(opts[small]) > int(big):
                raise PipelineError(f"{where}.{name}.{small}: {opts[small]} is larger than {key} {big} (the sweep's "
                                    "items must be a subset of the decision ratio's)")
            opts[key] = int(opts[small])
        out[name] = {k: v for k, v in opts.items() if k != small}
    return out


def run_sweep(model, tokenizer, methods: Mapping[str, dict], task_spec: Mapping[str, Mapping],
              datasets_dir: str | Path, seed: int = 0, backend_opts: Mapping | None = None,
              removed_ctx: Callable | None = None, decision_ratio: float | None = None,
              sweep_methods: Sequence[str] | None = None) -> dict:
    """Evaluate every distinct layer set once; return the self-describing evaluations record.

    removed_ctx(model, layers): context manager yielding the pruned model and restoring the dense
    one on exit (default :func:`avss.surgery.layers_removed`; the model is loaded once).
    Every evaluation keeps its per-document items and ids (what the paired bootstrap resamples).
    """
    if removed_ctx is None:
        removed_ctx = layers_removed
    n_layers = int(model.config.num_hidden_layers)
    runs = plan_runs(methods, n_layers, decision_ratio, sweep_methods)
    item_sets = {"decision": load_tasks(task_spec, datasets_dir, seed, "evaluate_pruning.tasks")}
    if any(r.items == "sweep" for r in runs):
        item_sets["sweep"] = load_tasks(sweep_task_spec(task_spec), datasets_dir, seed, "evaluate_pruning.tasks")
    tasks = item_sets["decision"]
    evaluations, seconds = {}, {}
    for run in runs:
        if run.key in evaluations:
            continue
        start = time.perf_counter()
        with removed_ctx(model, run.removed) as pruned:
            results = evaluate(HFBackend(pruned, tokenizer, **dict(backend_opts or {})), item_sets[run.items])
        evaluations[run.key] = {name: res.to_dict() for name, res in results.items()}
        seconds[run.key] = time.perf_counter() - start
        log.info("%s (%d layers removed): %.1f s; %s", run.key, len(run.removed), seconds[run.key],
                 {n: round(r.metrics[r.primary], 4) for n, r in results.items()})
    return {
        "n_layers": n_layers,
        "seed": seed,
        "tasks": {t.name: len(t.docs) for t in tasks},
        "sweep_tasks": {t.name: len(t.docs) for t in item_sets.get("sweep", [])},
        "decision_ratio": decision_ratio,
        "runs": [{"method": r.method, "ratio": r.ratio, "removed": list(r.removed), "key": r.key, "items": r.items}
                 for r in runs],
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
    reference = (params.get("summary") or {}).get("reference")
    if reference is not None and reference not in methods:
        raise PipelineError(f"evaluate_pruning.summary.reference: {reference!r} is not computed by the score phase "
                            f"(scores.json methods: {list(methods)})")
    device = resolve_device(params.get("device", "auto"), "evaluate_pruning.device")
    model, tok = load_pretrained(model_dir, device=device, dtype=params.get("dtype", "float32"))
    opts = {k: params[k] for k in ("batch_size", "max_batch_tokens", "max_length", "share_prefix_min_tokens", "progress") if k in params}
    start = time.perf_counter()
    summary = params.get("summary") or {}
    record = run_sweep(model, tok, methods, params["tasks"], datasets_dir, int(params.get("seed", 0)), opts,
                       decision_ratio=float(summary["ratio"]) if "ratio" in summary else None,
                       sweep_methods=params.get("sweep_methods"))
    timings = {"seconds_per_model": record.pop("seconds"), "total_seconds": time.perf_counter() - start}
    record.update({"model": str(model_dir), "model_type": model.config.model_type, "device": device,
                   "params": dict(params), "scores_meta": json.loads(Path(scores_path).read_text()).get("_meta")})
    write_json(out_json, record)
    if timings_json:
        write_json(timings_json, timings)
    return {**record, **timings}
