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

import contextlib
import copy
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from avss.activations import calibration_windows, window_batches
from avss.evaluation.backends import HFBackend, backend_workers
from avss.evaluation.runner import evaluate, load_tasks
from avss.hf_io import load_pretrained
from avss.surgery import layers_removed
from pipeutil.device import resolve_device
from pipeutil.io import PipelineError, write_json

from .lora_heal import heal_config, lora_heal
from .patch import (
    accumulate_span_stats,
    check_calibration,
    patch_record,
    patched,
    removed_spans,
    solve_patch,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    method: str
    ratio: float
    removed: tuple[int, ...]
    items: str = "decision"  # decision (summary.ratio and dense) | sweep (the other ratios, fewer items)
    heal: str = "none"  # none (pruned as is) | patch (linear patch folded in, avss.pruning.patch)

    @property
    def key(self) -> str:
        base = "dense" if not self.removed else "drop-" + "-".join(map(str, self.removed))
        return base if self.heal == "none" else f"{base}+{self.heal}"


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


def heal_stages(heal: Mapping | None) -> list[str]:
    """Healings evaluated: ``patch`` (linear patch), then ``patch+lora`` (LoRA on the patched model), or ``lora``
    alone when the patch is disabled."""
    patch = bool(((heal or {}).get("patch") or {}).get("enabled", False))
    lora = bool(((heal or {}).get("lora") or {}).get("enabled", False))
    return (["patch"] if patch else []) + ([("patch+lora" if patch else "lora")] if lora else [])


def plan_heal_runs(runs: Sequence[Run], heal: Mapping | None) -> list[Run]:
    """The healed copies of ``runs``: every method of ``heal.methods`` (None = all) at each ratio of
    ``heal.ratios``, on the items of its pruned run, once per healing of :func:`heal_stages`."""
    stages = heal_stages(heal)
    if not stages:
        return []
    methods = heal.get("methods")
    known = {r.method for r in runs}
    unknown = [m for m in (methods or []) if m not in known]
    if unknown:
        raise PipelineError(f"evaluate_pruning.heal.methods: {unknown} not computed by the score phase "
                            f"(scores.json methods: {sorted(known)})")
    ratios = [float(r) for r in heal.get("ratios") or []]
    missing = [r for r in ratios if not any(abs(run.ratio - r) < 1e-9 for run in runs if run.removed)]
    if missing:
        raise PipelineError(f"evaluate_pruning.heal.ratios: {missing} are not evaluated ratios (score.ratios, "
                            "and evaluate_pruning.sweep_methods for the ratios other than summary.ratio)")
    return [Run(r.method, r.ratio, r.removed, r.items, stage) for stage in stages for r in runs
            if r.removed and (methods is None or r.method in methods) and any(abs(r.ratio - x) < 1e-9 for x in ratios)]


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
              sweep_methods: Sequence[str] | None = None, heal: Mapping | None = None,
              calibration: torch.Tensor | None = None, protect: tuple[bool, bool] = (True, True),
              lora_windows: torch.Tensor | None = None, state_root: str | Path | None = None) -> dict:
    """Evaluate every distinct layer set once; return the self-describing evaluations record.

    removed_ctx(model, layers): context manager yielding the pruned model and restoring the dense
    one on exit (default :func:`avss.surgery.layers_removed`; the model is loaded once).
    Every evaluation keeps its per-document items and ids (what the paired bootstrap resamples).
    heal: the ``evaluate_pruning.heal`` section; its runs are patched with linear patches fitted on
    ``calibration`` windows [N, T] (one dense pass for every span; ``protect``: score.protect_first/last);
    LoRA heals train on ``lora_windows`` with their resume states under ``state_root/<run key>``.
    """
    if removed_ctx is None:
        removed_ctx = layers_removed
    n_layers = int(model.config.num_hidden_layers)
    runs = plan_runs(methods, n_layers, decision_ratio, sweep_methods)
    heal_runs = plan_heal_runs(runs, heal)
    patch_runs = [r for r in heal_runs if r.heal == "patch"]
    patches, heal_seconds = fit_run_patches(model, patch_runs, heal, calibration, protect) if patch_runs else ({}, {})
    item_sets = {"decision": load_tasks(task_spec, datasets_dir, seed, "evaluate_pruning.tasks")}
    if any(r.items == "sweep" for r in runs):
        item_sets["sweep"] = load_tasks(sweep_task_spec(task_spec), datasets_dir, seed, "evaluate_pruning.tasks")
    tasks = item_sets["decision"]
    evaluations, seconds = {}, {}
    lora_log = {}
    for run in [*runs, *heal_runs]:
        if run.key in evaluations:
            continue
        start = time.perf_counter()
        patch_key = run.key.replace("+patch+lora", "+patch")
        healed = patched(model, patches[patch_key]) if run.heal.startswith("patch") else contextlib.nullcontext()
        if run.heal.endswith("lora"):
            with healed, removed_ctx(model, run.removed) as pruned:
                student = copy.deepcopy(pruned)  # the dense model's modules stay untouched
            student, lora_log[run.key] = heal_lora(student, model, heal, lora_windows, state_root, run.key)
            results = evaluate(HFBackend(student, tokenizer, **dict(backend_opts or {})), item_sets[run.items])
            del student
        else:
            with healed, removed_ctx(model, run.removed) as pruned:
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
        "runs": [{"method": r.method, "ratio": r.ratio, "removed": list(r.removed), "key": r.key, "items": r.items,
                  "heal": r.heal} for r in [*runs, *heal_runs]],
        "patches": {key: patch_record(p) for key, p in patches.items()},
        "lora": lora_log,
        "per_layer": {m: list(v.get("per_layer", [])) for m, v in methods.items()},
        "evaluations": evaluations,
        "seconds": {**seconds, **heal_seconds},  # wall-clock: run_evaluate_pruning moves it to the timings file
    }


def heal_lora(student, teacher, heal: Mapping, windows: torch.Tensor | None, state_root, key: str):
    """LoRA heal of ``student`` (a copy of the pruned / patched model) with the dense ``teacher``; merged model, log."""
    cfg = heal_config(heal["lora"])
    if windows is None or windows.numel() == 0:
        raise PipelineError("evaluate_pruning.heal.lora: no training windows")
    start = time.perf_counter()
    state = Path(state_root) / key if state_root is not None else None
    merged, rec = lora_heal(student, windows, cfg, teacher if cfg.distill > 0 else None, state, key={"run": key})
    log.info("%s: LoRA heal, %d steps on %d tokens in %.1f s; loss %s -> %s", key, rec["steps"], rec["tokens"],
             time.perf_counter() - start, rec["history"][0]["loss"] if rec["history"] else None,
             rec["history"][-1]["loss"] if rec["history"] else None)
    return merged.eval(), rec


def fit_run_patches(model, heal_runs: Sequence[Run], heal: Mapping, calibration: torch.Tensor | None,
                    protect: tuple[bool, bool]) -> tuple[dict, dict]:
    """Linear patches of every healed run: one dense pass accumulates the statistics of every span at once."""
    opts = heal["patch"]
    if calibration is None or calibration.numel() == 0:
        raise PipelineError("evaluate_pruning.heal.patch: no calibration windows to fit the linear patch on")
    n_layers = int(model.config.num_hidden_layers)
    spans = {r.key: removed_spans(r.removed, n_layers, *protect, where=f"evaluate_pruning.heal ({r.method} at {r.ratio:g})")
             for r in heal_runs}
    unique = list(dict.fromkeys(s for ss in spans.values() for s in ss))
    start = time.perf_counter()
    batches = (ids for ids, _ in window_batches(calibration, int(opts["batch_size"])))
    stats = accumulate_span_stats(model, batches, unique)
    ridge = float(opts["ridge"])
    patches = {key: [solve_patch(s, stats[(s.fold, s.end)], ridge, "evaluate_pruning.heal.patch.ridge") for s in ss]
               for key, ss in spans.items()}
    seconds = {"patch_fit": time.perf_counter() - start}
    log.info("linear patches of %d spans fitted on %d tokens in %.1f s", len(unique), calibration.numel(),
             seconds["patch_fit"])
    return patches, seconds


def run_evaluate_pruning(model_dir: str | Path, scores_path: str | Path, datasets_dir: str | Path,
                         params: Mapping, out_json: str | Path, threads: int | None = None,
                         timings_json: str | Path | None = None, protect: tuple[bool, bool] = (True, True),
                         state_root: str | Path | None = None) -> dict:
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
    opts["workers"] = backend_workers(params, threads)
    start = time.perf_counter()
    summary = params.get("summary") or {}
    heal = params.get("heal")
    record = run_sweep(model, tok, methods, params["tasks"], datasets_dir, int(params.get("seed", 0)), opts,
                       decision_ratio=float(summary["ratio"]) if "ratio" in summary else None,
                       sweep_methods=params.get("sweep_methods"), heal=heal, calibration=heal_windows(tok, datasets_dir, heal),
                       protect=protect, lora_windows=heal_windows(tok, datasets_dir, heal, "lora"), state_root=state_root)
    seconds = record.pop("seconds")
    timings = {"seconds_per_model": {k: v for k, v in seconds.items() if k != "patch_fit"},
               "patch_fit_seconds": seconds.get("patch_fit"), "total_seconds": time.perf_counter() - start}
    record.update({"model": str(model_dir), "model_type": model.config.model_type, "device": device,
                   "params": dict(params), "scores_meta": json.loads(Path(scores_path).read_text()).get("_meta")})
    write_json(out_json, record)
    if timings_json:
        write_json(timings_json, timings)
    if state_root is not None and Path(state_root).is_dir() and not any(Path(state_root).iterdir()):
        Path(state_root).rmdir()  # each LoRA state is removed when its heal completes; the empty root goes too
    return {**record, **timings}


def heal_windows(tokenizer, datasets_dir: str | Path, heal: Mapping | None, part: str = "patch") -> torch.Tensor | None:
    """Windows [n, seq_len] of wiki.txt for ``heal.<part>`` (patch: ``n_samples`` windows; lora: enough for its
    token budget); None when that healing is off or no ratio is healed."""
    opts = (heal or {}).get(part) or {}
    if not opts.get("enabled", False) or not heal.get("ratios") or heal.get("methods") == []:
        return None
    where = f"evaluate_pruning.heal.{part}"
    if part == "patch":
        check_calibration(opts["n_samples"], opts["seq_len"], where)
        n = int(opts["n_samples"])
    else:
        if int(opts["tokens"]) < 1:
            raise PipelineError(f"{where}.tokens: a token budget of {opts['tokens']} trains nothing (expected >= 1)")
        n = heal_config(opts).steps(int(opts["seq_len"])) * int(opts["batch_size"])
    path = Path(datasets_dir) / "wiki.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read the calibration text of {where} ({exc})") from exc
    return calibration_windows(text, tokenizer, n, int(opts["seq_len"]), int(opts["seed"]), tuple(opts["text_range"]))
