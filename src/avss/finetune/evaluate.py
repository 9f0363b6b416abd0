"""Evaluate base, DoLa and fine-tuned models on held-out folds; write the report (avss.finetune.report).

Every (variant, seed, fold) is evaluated with the evaluation library (avss.evaluation) on the dataset
rows of fold f only; fine-tuned checkpoints are checked to descend from the base model and to share no
question with the evaluation rows. DoLa runs the base model through avss.dola. The report compares
every arm item by item with paired bootstrap intervals.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from avss.dola import dola_backend, resolve_bucket
from avss.evaluation.runner import evaluate, load_tasks
from avss.folds import check_disjoint
from avss.hf_backend import load_hf_backend
from avss.hf_io import load_local
from avss.hooks import find_decoder_layers
from avss.records import dataset_path
from pipeutil.device import resolve_device
from pipeutil.io import PipelineError, read_jsonl, write_json, write_text

from .plots import plot_changes
from .report import compare_all, markdown_table, nested_metrics, summary_text
from .train import check_finetuned

log = logging.getLogger(__name__)


def _eval_keys(task_spec: Mapping, eval_dir: str) -> set[str]:
    keys = set()
    for name in task_spec:
        path = Path(dataset_path(name, eval_dir))
        if not path.is_file():
            raise PipelineError(f"evaluate_hallucination: {path} is missing (run hallucination_samples)")
        rows = read_jsonl(path)
        if not rows:
            raise PipelineError(f"evaluate_hallucination: {path} holds no question: this fold is empty")
        keys |= {f"{name}/{r['id']}" for r in rows}
    return keys


def evaluate_run(model_dir: str, base_dir: str, variant: str, fold: int, eval_dir: str, task_spec: Mapping,
                 out_json: str, seed: int = 0, backend_opts: Mapping | None = None,
                 ft_seed: int | None = None) -> dict:
    """Evaluate one model on one fold's questions; write {variant, seed, fold, layers, train, results}.

    results keep the per-document values (ids, items): the report's paired bootstrap resamples them.
    ``ft_seed`` is the fine-tuning seed of a fine-tuned variant (None for the base model).
    """
    info = {}
    keys = _eval_keys(task_spec, eval_dir)
    if variant != "base":
        info = check_finetuned(model_dir, base_dir)
        if int(info.get("fold", fold)) != fold:
            raise PipelineError(f"{model_dir}: fine-tuned for fold {info.get('fold')}, evaluated on fold {fold}")
        if ft_seed is not None and int(info.get("seed", ft_seed)) != int(ft_seed):
            raise PipelineError(f"{model_dir}: fine-tuned with seed {info.get('seed')}, evaluated as seed {ft_seed}")
        check_disjoint(info.get("train_questions", []), keys, f"{model_dir} vs {eval_dir}")
    tasks = load_tasks(task_spec, eval_dir, seed)
    backend = load_hf_backend(model_dir, **dict(backend_opts or {}))
    results = evaluate(backend, tasks)
    train = {k: info[k] for k in ("steps_done", "epochs", "n_train_questions") if k in info} or None
    out = {"variant": variant, "seed": ft_seed, "fold": fold, "model": str(model_dir), "layers": info.get("layers"),
           "train": train, "results": {name: res.to_dict(items=True) for name, res in results.items()}}
    write_json(out_json, out)
    log.info("%s seed %s fold %d: %s", variant, ft_seed, fold, {n: r.metrics for n, r in results.items()})
    return out


def evaluate_dola_run(base_dir: str, bucket_name: str, bucket, alpha: float, fold: int, eval_dir: str,
                      task_spec: Mapping, eavss_json: str | None, out_json: str, seed: int = 0,
                      backend_opts: Mapping | None = None) -> dict:
    """The base model decoding with DoLa over one candidate bucket, on one fold's held-out questions.

    bucket: 'low' | 'high' | a list of layers | 'eavss' (the fold's EAVSS-selected layers, chosen on the
    fold's training questions). The bucket is checked against the model before anything is evaluated.
    """
    opts = dict(backend_opts or {})
    key = f"evaluate_hallucination.dola.buckets.{bucket_name}"
    selected = None
    if bucket == "eavss":
        folds = json.loads(Path(eavss_json).read_text())["folds"] if eavss_json else {}
        if str(fold) not in folds:
            raise PipelineError(f"{key}: {eavss_json} has no EAVSS selection for fold {fold}")
        selected = folds[str(fold)]["selected"]
    _eval_keys(task_spec, eval_dir)
    model, tok = load_local(base_dir, dtype=getattr(torch, opts.pop("dtype", "float32")))
    n_layers = len(find_decoder_layers(model).layers)
    layers = resolve_bucket(bucket, n_layers, key, selected)
    device = resolve_device(opts.pop("device", "auto"), "evaluate_hallucination.device")
    backend = dola_backend(model.to(device), tok, layers, alpha, **opts)
    results = evaluate(backend, load_tasks(task_spec, eval_dir, seed))
    chosen = dict(zip(layers, backend.model.chosen))
    out = {"variant": f"dola_{bucket_name}", "seed": None, "fold": fold, "model": str(base_dir), "layers": layers,
           "dola": {"bucket": bucket, "alpha": float(alpha), "premature_counts": chosen}, "train": None,
           "results": {name: res.to_dict(items=True) for name, res in results.items()}}
    write_json(out_json, out)
    log.info("dola_%s fold %d (layers %s, chosen %s): %s", bucket_name, fold, layers, chosen,
             {n: r.metrics for n, r in results.items()})
    return out


def _budget(runs: list[dict]) -> dict:
    """Fine-tuning budget of the runs (steps, epochs per fold, seeds), from their finetune.json records."""
    ft = [r for r in runs if r.get("train")]
    if not ft:
        return {}
    steps = sorted({r["train"]["steps_done"] for r in ft})
    epochs = sorted({round(float(r["train"]["epochs"]), 3) for r in ft if r["train"].get("epochs") is not None})
    return {"steps": steps, "epochs": epochs, "seeds": sorted({r["seed"] for r in ft}),
            "train_questions": sorted({r["train"].get("n_train_questions") for r in ft} - {None})}


def write_report(run_jsons: list[str], metrics: Mapping[str, list[str]], out_metrics: str, out_md: str,
                 out_summary: str, out_plot: str, n_boot: int = 2000, seed: int = 0) -> dict:
    """metrics.json (DVC metrics), table.md, summary.md and the change plot from all run files."""
    runs = [json.loads(Path(p).read_text()) for p in run_jsons]
    res = compare_all(runs, metrics, n_boot, seed)
    plot_changes(res["rows"], out_plot)
    write_text(out_md, markdown_table(res))
    write_text(out_summary, summary_text(res, _budget(runs)))
    result = nested_metrics(res)
    write_json(out_metrics, result)
    return {**res, "metrics": result}
