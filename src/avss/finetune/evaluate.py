"""Evaluate base and fine-tuned models on held-out folds; compare variants; write the summary.

Every (variant, fold) is evaluated with the evaluation library (avss.evaluation) on the dataset
rows of fold f only; fine-tuned checkpoints are checked to descend from the base model and to
share no question with the evaluation rows. Scores are averaged over folds; the table gives,
per task metric and variant, the absolute and relative change against the base model.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from avss.evaluation.runner import evaluate, load_tasks
from avss.folds import check_disjoint
from avss.hf_backend import load_hf_backend
from avss.records import dataset_path
from pipeutil.io import PipelineError, read_jsonl, write_json, write_text

from .plots import plot_changes
from .train import check_finetuned

log = logging.getLogger(__name__)
CONTROLS = ("random", "avss_topk", "all_layers")


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
                 out_json: str, seed: int = 0, backend_opts: Mapping | None = None) -> dict:
    """Evaluate one model on one fold's questions; write {variant, fold, layers, results}."""
    info = {}
    keys = _eval_keys(task_spec, eval_dir)
    if variant != "base":
        info = check_finetuned(model_dir, base_dir)
        if int(info.get("fold", fold)) != fold:
            raise PipelineError(f"{model_dir}: fine-tuned for fold {info.get('fold')}, evaluated on fold {fold}")
        check_disjoint(info.get("train_questions", []), keys, f"{model_dir} vs {eval_dir}")
    tasks = load_tasks(task_spec, eval_dir, seed)
    backend = load_hf_backend(model_dir, **dict(backend_opts or {}))
    results = evaluate(backend, tasks)
    out = {"variant": variant, "fold": fold, "model": str(model_dir), "layers": info.get("layers"),
           "results": {name: res.to_dict(items=False) for name, res in results.items()}}
    write_json(out_json, out)
    log.info("%s fold %d: %s", variant, fold, {n: r.metrics for n, r in results.items()})
    return out


def fold_mean(runs: list[dict], metrics: Mapping[str, list[str]]) -> dict[str, dict]:
    """{variant: {(task, metric): (mean over folds, mean stderr, n docs)}} averaged over folds."""
    out: dict[str, dict] = {}
    for variant in dict.fromkeys(r["variant"] for r in runs):
        per = [r for r in runs if r["variant"] == variant]
        cells = {}
        for task, names in metrics.items():
            for m in names:
                vals = [r["results"][task]["metrics"][m] for r in per if task in r["results"]]
                errs = [r["results"][task]["stderr"].get(m) for r in per if task in r["results"]]
                if not vals:
                    raise PipelineError(f"evaluate_hallucination: no result for {task}/{m} of variant {variant!r}")
                errs = [e for e in errs if e is not None]
                cells[(task, m)] = (float(np.mean(vals)), float(np.mean(errs)) / np.sqrt(len(vals)) if errs else None,
                                    sum(r["results"][task]["n"] for r in per if task in r["results"]))
        out[variant] = cells
    return out


def change_table(runs: list[dict], metrics: Mapping[str, list[str]]) -> list[dict]:
    """Rows {variant, task, metric, value, base, abs_change, relative_change, stderr, n, folds}."""
    folds = sorted({r["fold"] for r in runs})
    for variant in {r["variant"] for r in runs}:
        got = sorted(r["fold"] for r in runs if r["variant"] == variant)
        if got != folds:
            raise PipelineError(f"evaluate_hallucination: variant {variant!r} has folds {got}, expected {folds}")
    means = fold_mean(runs, metrics)
    if "base" not in means:
        raise PipelineError("evaluate_hallucination: the base model's evaluation is missing")
    rows = []
    for variant, cells in means.items():
        for (task, m), (val, err, n) in cells.items():
            base = means["base"][(task, m)][0]
            rows.append({"variant": variant, "task": task, "metric": m, "value": val, "base": base,
                         "abs_change": val - base, "relative_change": (val - base) / base if base else None,
                         "stderr": err, "n": n, "folds": len(folds)})
    return rows


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f} %"


def markdown_table(rows: list[dict]) -> str:
    lines = ["| variant | task | metric | value | base | abs. change | rel. change | stderr | n |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        err = "n/a" if r["stderr"] is None else f"{r['stderr']:.3f}"
        lines.append(f"| {r['variant']} | {r['task']} | {r['metric']} | {r['value']:.4f} | {r['base']:.4f} | "
                     f"{r['abs_change']:+.4f} | {_pct(r['relative_change'])} | {err} | {r['n']} |")
    return "\n".join(lines) + "\n"


def compare(rows: list[dict], variant: str, control: str) -> dict:
    """EAVSS (``variant``) minus ``control`` per metric; wins and the mean difference."""
    cell = {(r["variant"], r["task"], r["metric"]): r for r in rows}
    diffs = {}
    for (v, task, m), r in cell.items():
        if v == variant and (control, task, m) in cell:
            c = cell[(control, task, m)]
            diffs[f"{task}/{m}"] = {"abs": r["value"] - c["value"],
                                    "rel_vs_base": (r["value"] - c["value"]) / r["base"] if r["base"] else None,
                                    "noise": np.sqrt((r["stderr"] or 0) ** 2 + (c["stderr"] or 0) ** 2)}
    wins = sum(d["abs"] > 0 for d in diffs.values())
    losses = sum(d["abs"] < 0 for d in diffs.values())
    rel = [d["rel_vs_base"] for d in diffs.values() if d["rel_vs_base"] is not None]
    return {"control": control, "metrics": diffs, "wins": wins, "losses": losses, "ties": len(diffs) - wins - losses,
            "mean_abs": float(np.mean([d["abs"] for d in diffs.values()])) if diffs else None,
            "mean_rel_vs_base": float(np.mean(rel)) if rel else None,
            "beats": wins > losses}


def summary_text(rows: list[dict], comparisons: list[dict], paper_gain: float = 0.12) -> str:
    """A generated Markdown summary: EAVSS vs the base model and vs each same-budget control."""
    ev = [r for r in rows if r["variant"] == "eavss"]
    lines = ["# EAVSS-targeted fine-tuning: summary", "",
             (f"Scores are means over {ev[0]['folds'] if ev else '?'} folds of held-out questions "
             "(fine-tuning never saw the evaluated questions)."), "",
             "## EAVSS vs the base model", ""]
    for r in ev:
        lines.append(f"- {r['task']} {r['metric']}: {r['base']:.4f} -> {r['value']:.4f} "
                     f"({r['abs_change']:+.4f}, {_pct(r['relative_change'])})")
    best = max((r["relative_change"] for r in ev if r["relative_change"] is not None), default=None)
    lines += ["", f"Largest relative gain: {_pct(best)} (the EAVSS paper reports up to {100 * paper_gain:.0f} %).",
              "", "## EAVSS vs same-budget controls", ""]
    for c in comparisons:
        verdict = "beats" if c["beats"] else ("ties with" if c["wins"] == c["losses"] else "does not beat")
        noisy = sum(abs(d["abs"]) <= d["noise"] for d in c["metrics"].values())
        lines.append(f"- vs **{c['control']}**: EAVSS {verdict} it: better on {c['wins']}, worse on {c['losses']}, "
                     f"equal on {c['ties']} of {len(c['metrics'])} metrics; mean difference {c['mean_abs']:+.4f} "
                     f"({_pct(c['mean_rel_vs_base'])} of the base score); {noisy} of the differences are within "
                     "one standard error.")
        for name, d in c["metrics"].items():
            lines.append(f"  - {name}: {d['abs']:+.4f} ({_pct(d['rel_vs_base'])} of base)")
    lines += ["", ("Differences within one standard error are not evidence either way; raise the question "
              "counts (docs/params.eavss.gpu.yaml) to resolve them."), ""]
    return "\n".join(lines)


def nested_metrics(rows: list[dict], comparisons: list[dict]) -> dict:
    """DVC metrics: {variant: {task: {metric: {value, base, abs_change, relative_change}}}, comparisons}."""
    out: dict = {}
    for r in rows:
        out.setdefault(r["variant"], {}).setdefault(r["task"], {})[r["metric"]] = {
            k: r[k] for k in ("value", "base", "abs_change", "relative_change", "stderr", "n")}
    out["eavss_vs"] = {c["control"]: {"wins": c["wins"], "losses": c["losses"], "ties": c["ties"],
                                      "mean_abs": c["mean_abs"], "mean_rel_vs_base": c["mean_rel_vs_base"],
                                      "beats": c["beats"]} for c in comparisons}
    return out


def write_report(run_jsons: list[str], metrics: Mapping[str, list[str]], out_metrics: str, out_md: str,
                 out_summary: str, out_plot: str) -> dict:
    """metrics.json (DVC metrics), table.md, summary.md and the change plot from all run files."""
    runs = [json.loads(Path(p).read_text()) for p in run_jsons]
    rows = change_table(runs, metrics)
    controls = [c for c in CONTROLS if any(r["variant"] == c for r in rows)]
    comps = [compare(rows, "eavss", c) for c in controls] if any(r["variant"] == "eavss" for r in rows) else []
    plot_changes(rows, out_plot)
    write_text(out_md, markdown_table(rows))
    write_text(out_summary, summary_text(rows, comps))
    result = nested_metrics(rows, comps)
    write_json(out_metrics, result)
    return {"rows": rows, "comparisons": comps, "metrics": result}
