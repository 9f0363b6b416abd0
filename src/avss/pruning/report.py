"""Retention table (CSV/JSON), plots and the generated markdown summary of a pruning sweep."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pipeutil.figures import plt, save_figure
from pipeutil.io import PipelineError, write_json, write_text

from .retention import mean_retention, retention_rows

COLUMNS = ["method", "ratio", "n_removed", "removed", "task", "metric", "primary", "higher_is_better", "n",
           "dense", "pruned", "stderr", "chance", "retention", "chance_adjusted_retention"]


def table_rows(sweep: Mapping) -> list[dict]:
    """One row per (method, ratio, task, metric) from the sweep record of :func:`run_sweep`."""
    evals = sweep["evaluations"]
    if "dense" not in evals:
        raise PipelineError("evaluations: the dense model (ratio 0) was not evaluated")
    rows = []
    for run in sweep["runs"]:
        rows += retention_rows(evals["dense"], evals[run["key"]], method=run["method"], ratio=run["ratio"],
                               n_removed=len(run["removed"]), removed=" ".join(map(str, run["removed"])))
    return rows


def write_table(rows: Sequence[dict], csv_path: str | Path, json_path: str | Path) -> None:
    """retention.csv (every row) and metrics.json (nested, for `dvc metrics show`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(csv_path, buf.getvalue())
    nested: dict = {"dense": {}}
    for r in rows:
        nested["dense"].setdefault(r["task"], {})[r["metric"]] = r["dense"]
        if r["ratio"] == 0:
            continue
        cell = nested.setdefault(r["method"], {}).setdefault(f"{r['ratio']:g}", {}).setdefault(r["task"], {})
        cell[r["metric"]] = {"score": r["pruned"], "retention": r["retention"],
                             "chance_adjusted_retention": r["chance_adjusted_retention"]}
    write_json(json_path, nested)


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _reference_verdict(ref: Sequence[dict], reference: str, ratio: float, threshold: float) -> list[str]:
    """The yes/no answer for the reference method and its per-task table."""
    defined = [r for r in ref if r["retention"] is not None]
    ok = [r for r in defined if r["retention"] >= threshold]
    undefined = [r["task"] for r in ref if r["retention"] is None]
    verdict = "no" if len(ok) < len(defined) else ("yes" if not undefined else "yes where defined")
    lines = [(f"**Does {reference} at {ratio:.1%} keep at least {threshold:.0%} of the dense model on every task? "
              f"{verdict}** ({len(ok)} of {len(defined)} tasks with a defined retention; removed layers: "
              f"{ref[0]['removed']})."), ""]
    if undefined:
        lines += [f"Retention is undefined (dense score 0) on: {', '.join(undefined)}.", ""]
    lines += ["| task | metric | n | dense | pruned ± s.e. | retention | chance | chance-adjusted | kept |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in ref:
        kept = "n/a" if r["retention"] is None else ("yes" if r["retention"] >= threshold else "no")
        err = "" if r["stderr"] is None else f" ± {_fmt(r['stderr'])}"
        lines.append(f"| {r['task']} | {r['metric']} | {r['n']} | {_fmt(r['dense'])} | {_fmt(r['pruned'])}{err} "
                     f"| {_fmt(r['retention'])} | {_fmt(r['chance'])} | {_fmt(r['chance_adjusted_retention'])} | {kept} |")
    return lines


def summary_markdown(rows: Sequence[dict], ratio: float = 0.25, reference: str = "avss",
                     threshold: float = 0.9) -> str:
    """Answer: does ``reference`` at ``ratio`` keep >= threshold of the dense model on every task,
    and which method keeps the most (mean retention of the primary metrics)?"""
    at = [r for r in rows if abs(r["ratio"] - ratio) < 1e-9 and r["primary"]]
    if not at:
        raise PipelineError(f"summary: no pruned evaluation at ratio {ratio} (ratios: {sorted({r['ratio'] for r in rows})})")
    ref = [r for r in at if r["method"] == reference]
    lines = [f"# Pruning retention summary (ratio {ratio:g})", ""]
    if ref:
        lines += _reference_verdict(ref, reference, ratio, threshold)
    else:
        lines.append(f"Method {reference!r} is not in the scores file; no verdict.")
    means = {m: mean_retention([r for r in at if r["method"] == m]) for m in dict.fromkeys(r["method"] for r in at)}
    ranking = sorted(means, key=lambda m: -(means[m] if means[m] is not None else -1.0))
    top = means[ranking[0]]
    best = [m for m in ranking if means[m] is not None and top is not None and abs(means[m] - top) < 1e-12]
    lines += ["", (f"**Method that keeps the most at {ratio:.1%}: {' = '.join(best) or 'n/a'}** (mean retention of "
                   "the primary metrics over the tasks where it is defined; methods removing the same layers tie)."), "",
              "| method | removed layers | mean retention | mean chance-adjusted retention |", "|---|---|---|---|"]
    for m in ranking:
        mine = [r for r in at if r["method"] == m]
        lines.append(f"| {m} | {mine[0]['removed']} | {_fmt(means[m])} "
                     f"| {_fmt(mean_retention(mine, 'chance_adjusted_retention'))} |")
    lines += ["", ("Retention = pruned / dense (dense / pruned for perplexity). Scores are on sub-samples "
                   "(n per task in retention.csv); ± is one standard error, so differences smaller than about "
                   "two standard errors are noise. Chance-adjusted = (pruned - chance) / (dense - chance); "
                   "n/a where the dense model is not above chance."), ""]
    return "\n".join(lines)


def plot_layer_scores(per_layer: Mapping[str, Sequence[float]], path: str | Path) -> None:
    """One panel per method: its score of every layer."""
    methods = [m for m, v in per_layer.items() if len(v)] or list(per_layer)
    fig, axes = plt.subplots(len(methods), 1, figsize=(8, 1.8 * len(methods) + 0.5), squeeze=False, sharex=True)
    for ax, m in zip(axes[:, 0], methods):
        vals = list(per_layer[m])
        ax.bar(range(len(vals)), vals, color="tab:blue")
        ax.set_ylabel(m, rotation=0, ha="right", va="center")
        if vals and min(vals) > 0 and max(vals) / min(vals) > 100:
            ax.set_yscale("log")  # raw AVSS spans orders of magnitude (massive activations)
    n = max((len(v) for v in per_layer.values()), default=0)
    axes[-1, 0].set_xticks(range(n), [str(i) for i in range(n)], fontsize=7)
    axes[-1, 0].set_xlabel("layer")
    fig.suptitle("Per-layer scores of every method")
    save_figure(fig, path)


def plot_retention(rows: Sequence[dict], path: str | Path, threshold: float = 0.9) -> None:
    """Retention of the primary metric vs pruning ratio, one panel per task, one line per method."""
    prim = [r for r in rows if r["primary"]]
    tasks = sorted({r["task"] for r in prim})
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.4), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        for method in sorted({r["method"] for r in prim}):
            pts = sorted((r["ratio"], r["retention"]) for r in prim
                         if r["task"] == task and r["method"] == method and r["retention"] is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=method)
        ax.axhline(threshold, color="grey", ls="--", lw=1)
        metric = next(r["metric"] for r in prim if r["task"] == task)
        ax.set_title(f"{task} ({metric})")
        ax.set_xlabel("pruning ratio")
    axes[0, 0].set_ylabel("retention")
    axes[0, -1].legend(fontsize=8, loc="best")
    save_figure(fig, path)


def plot_removed_heatmap(runs: Sequence[Mapping], n_layers: int, path: str | Path) -> None:
    """Rows = method @ ratio, columns = layers; dark = removed."""
    pruned = sorted((r for r in runs if r["removed"]), key=lambda r: (r["ratio"], r["method"]))
    grid = np.zeros((max(len(pruned), 1), n_layers))  # (runs, layers)
    for i, r in enumerate(pruned):
        grid[i, list(r["removed"])] = 1.0
    fig, ax = plt.subplots(figsize=(0.25 * n_layers + 2.5, 0.3 * len(pruned) + 1.5))
    ax.imshow(grid, cmap="Greys", aspect="auto", vmin=0, vmax=1)
    ax.set_yticks(range(len(pruned)), [f"{r['method']} @ {r['ratio']:g}" for r in pruned], fontsize=7)
    ax.set_xticks(range(n_layers), [str(i) for i in range(n_layers)], fontsize=7)
    ax.set_xlabel("layer (dark = removed)")
    ax.set_title("Layers removed by each method")
    save_figure(fig, path)


def write_report(sweep: Mapping, out: Mapping[str, str | Path], ratio: float = 0.25,
                 reference: str = "avss", threshold: float = 0.9) -> list[dict]:
    """Write every report output; ``out`` maps csv, metrics, summary, layer_scores, retention, heatmap to paths."""
    rows = table_rows(sweep)
    text = summary_markdown(rows, ratio, reference, threshold)  # fails before anything is written
    write_table(rows, out["csv"], out["metrics"])
    write_text(out["summary"], text)
    plot_layer_scores(sweep["per_layer"], out["layer_scores"])
    plot_retention(rows, out["retention"], threshold)
    plot_removed_heatmap(sweep["runs"], sweep["n_layers"], out["heatmap"])
    return rows


def report_pruning(evaluations_json: str | Path, out: Mapping[str, str | Path], summary: Mapping) -> list[dict]:
    """Phase ``evaluate_pruning``, report step: evaluations.json -> table, metrics, plots, summary."""
    sweep = json.loads(Path(evaluations_json).read_text())
    return write_report(sweep, out, ratio=float(summary.get("ratio", 0.25)),
                        reference=str(summary.get("reference", "avss")),
                        threshold=float(summary.get("threshold", 0.9)))
