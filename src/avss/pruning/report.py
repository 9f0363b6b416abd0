"""Retention table (CSV/JSON), plots and the generated markdown summary of a pruning sweep.

Every number comes with a 95 % paired-bootstrap interval (avss.pruning.uncertainty); the summary says
"A keeps more than B" only when the interval of A - B excludes 0, otherwise that the two are
indistinguishable at this sample size, with the smallest difference the run could have detected.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pipeutil.bootstrap import check_n_boot
from pipeutil.figures import plt, save_figure
from pipeutil.io import PipelineError, write_json, write_text

from . import heal_report as H
from . import study as S
from . import uncertainty as U

IV = ("", "_low", "_high")
COLUMNS = (["method", "heal", "ratio", "n_removed", "removed", "task", "metric", "primary", "higher_is_better", "n", "chance"]
           + [f"{k}{s}" for k in ("dense", "pruned", "retention", "chance_adjusted_retention", "change") for s in IV])


def table_rows(sweep: Mapping, rs: U.Resampler) -> list[dict]:
    """One row per (method, ratio, task, metric) with intervals; rows keep ``_boot`` (for means over tasks)."""
    evals = sweep["evaluations"]
    if "dense" not in evals:
        raise PipelineError("evaluations: the dense model (ratio 0) was not evaluated")
    rows, cache = [], {}
    for run in sweep["runs"]:
        if run["key"] not in cache:
            cache[run["key"]] = [row for task, res in evals[run["key"]].items()
                                 for row in U.compare(evals["dense"][task], res, rs)]
        for row in cache[run["key"]]:
            rows.append({"method": run["method"], "heal": run.get("heal", "none"), "ratio": run["ratio"],
                         "n_removed": len(run["removed"]),
                         "removed": " ".join(map(str, run["removed"])), **row})
    return rows


def write_table(rows: Sequence[dict], csv_path: str | Path, json_path: str | Path, extra: Mapping | None = None) -> None:
    """retention.csv (every row) and metrics.json (nested, for `dvc metrics show`; ``extra`` merged in)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(csv_path, buf.getvalue())
    nested: dict = {"dense": {}}
    for r in rows:
        nested["dense"].setdefault(r["task"], {})[r["metric"]] = {f"score{s}": r[f"dense{s}"] for s in IV}
        if r["ratio"] == 0:
            continue
        name = r["method"] if r.get("heal", "none") == "none" else f"{r['method']}+{r['heal']}"
        cell = nested.setdefault(name, {}).setdefault(f"{r['ratio']:g}", {}).setdefault(r["task"], {})
        cell[r["metric"]] = {**{f"score{s}": r[f"pruned{s}"] for s in IV},
                             **{f"{k}{s}": r[f"{k}{s}"] for k in ("retention", "chance_adjusted_retention") for s in IV},
                             "n": r["n"]}
    write_json(json_path, {**nested, **dict(extra or {})})


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _ci(r: Mapping, key: str, digits: int = 3) -> str:
    if r.get(key) is None:
        return "n/a"
    return f"{_fmt(r[key], digits)} [{_fmt(r[key + '_low'], digits)}, {_fmt(r[key + '_high'], digits)}]"


def _at(rows: Sequence[dict], ratio: float) -> list[dict]:
    at = [r for r in rows if abs(r["ratio"] - ratio) < 1e-9 and r["primary"]]
    if not at:
        raise PipelineError(f"summary: no pruned evaluation at ratio {ratio} (ratios: {sorted({r['ratio'] for r in rows})})")
    return at


def _reference_verdict(ref: Sequence[dict], reference: str, ratio: float, threshold: float) -> list[str]:
    """Does the reference keep >= threshold on every task? yes / no only where the interval decides."""
    def kept(r):
        if r["retention"] is None:
            return "n/a"
        return "yes" if r["retention_low"] >= threshold else ("no" if r["retention_high"] < threshold else "undecided")
    marks = [kept(r) for r in ref]
    defined = [m for m in marks if m != "n/a"]
    verdict = ("no" if "no" in defined else "undecided at this sample size" if "undecided" in defined
               else "yes" if len(defined) == len(marks) else "yes where defined")
    lines = [(f"**Does {reference} at {ratio:.1%} keep at least {threshold:.0%} of the dense model on every task? "
              f"{verdict}** ({defined.count('yes')} of {len(defined)} tasks with the whole 95 % interval of the "
              f"retention at or above {threshold:.0%}; removed layers: {ref[0]['removed']})."), ""]
    undefined = [r["task"] for r, m in zip(ref, marks) if m == "n/a"]
    if undefined:
        lines += [f"Retention is undefined (dense score 0) on: {', '.join(undefined)}.", ""]
    lines += ["| task | metric | n | dense | pruned | retention | chance | chance-adjusted | kept |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r, m in zip(ref, marks):
        lines.append(f"| {r['task']} | {r['metric']} | {r['n']} | {_ci(r, 'dense')} | {_ci(r, 'pruned')} "
                     f"| {_ci(r, 'retention')} | {_fmt(r['chance'])} | {_ci(r, 'chance_adjusted_retention')} | {m} |")
    return lines


def method_means(at: Sequence[dict], key: str = "retention") -> dict[str, U.Boot | None]:
    """Mean over the tasks (primary metrics) where every method's ``key`` is defined, resample by resample."""
    methods = list(dict.fromkeys(r["method"] for r in at))
    tasks = [t for t in dict.fromkeys(r["task"] for r in at)
             if all(r["_boot"][key] is not None and math.isfinite(r["_boot"][key].estimate)
                    for r in at if r["task"] == t)]
    return {m: U.mean_boot([r["_boot"][key] for r in at if r["method"] == m and r["task"] in tasks]) if tasks else None
            for m in methods}


def _pairwise(means: Mapping[str, U.Boot | None], n_tasks: int) -> list[str]:
    ranked = sorted((m for m in means if means[m] is not None), key=lambda m: -means[m].estimate)
    if len(ranked) < 2:
        return []
    lines = ["| A | B | A - B (mean retention) | verdict |", "|---|---|---|---|"]
    best = ranked[0]
    for other in ranked[1:]:
        iv = (means[best] - means[other]).interval(n_tasks)
        lines.append(f"| {best} | {other} | {iv.estimate:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}] "
                     f"| {U.verdict(best, other, iv)} |")
    return lines


def summary_markdown(rows: Sequence[dict], ratio: float = 0.25, reference: str = "avss", threshold: float = 0.9,
                     study: Sequence[str] = ()) -> str:
    """The generated summary: the reference verdict, every method's retention per task with intervals,
    the ranking with paired differences against the best, then the ``study`` sections (measured damage)."""
    at = _at(rows, ratio)
    ref = [r for r in at if r["method"] == reference]
    lines = [f"# Pruning retention summary (ratio {ratio:g})", ""]
    if not ref:
        raise PipelineError(f"evaluate_pruning.summary.reference: {reference!r} is not computed by the score phase "
                            f"(methods: {sorted({r['method'] for r in at})})")
    lines += _reference_verdict(ref, reference, ratio, threshold)
    tasks = list(dict.fromkeys(r["task"] for r in at))
    methods = list(dict.fromkeys(r["method"] for r in at))
    lines += ["", f"## Retention of every method at {ratio:.1%} (primary metric, 95 % paired-bootstrap interval)", "",
              "| method | removed | " + " | ".join(f"{t} ({next(r['metric'] for r in at if r['task'] == t)}, n = "
                                                  f"{next(r['n'] for r in at if r['task'] == t)})" for t in tasks) + " |",
              "|---|---|" + "---|" * len(tasks)]
    for m in methods:
        mine = {r["task"]: r for r in at if r["method"] == m}
        lines.append(f"| {m} | {next(iter(mine.values()))['removed']} | "
                     + " | ".join(_ci(mine[t], "retention") if t in mine else "n/a" for t in tasks) + " |")
    means = method_means(at)
    adj = method_means(at, "chance_adjusted_retention")
    ranked = sorted(methods, key=lambda m: -(means[m].estimate if means[m] is not None else -math.inf))
    lines += ["", f"## Which method keeps the most at {ratio:.1%}?", "",
              ("Mean retention of the primary metrics over the tasks where every method's is defined (tasks "
              "resampled independently, methods paired on the same items)."), "",
              "| method | mean retention | mean chance-adjusted retention |", "|---|---|---|"]
    for m in ranked:
        lines.append(f"| {m} | {_boot_ci(means[m], len(tasks))} | {_boot_ci(adj[m], len(tasks))} |")
    pair = _pairwise(means, len(tasks))
    if pair:
        lines += ["", "Paired differences against the method with the highest mean retention:", "", *pair]
    lines += ["", ("Retention = pruned / dense (dense / pruned for perplexity); chance-adjusted = (pruned - chance) / "
                   "(dense - chance), n/a where the dense model is not above chance. Brackets: 95 % percentile interval "
                   "of a paired bootstrap over items (perplexity: over documents); 'smallest detectable difference' = "
                   "2.8 x the bootstrap s.e. of the difference (95 % level, 80 % power)."), ""]
    return "\n".join([*lines, *study])


def _boot_ci(b: U.Boot | None, n: int) -> str:
    if b is None:
        return "n/a"
    iv = b.interval(n)
    return f"{_fmt(iv.estimate)} [{_fmt(iv.low)}, {_fmt(iv.high)}]"


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
    """Retention of the primary metric vs pruning ratio with 95 % intervals, one panel per task."""
    prim = [r for r in rows if r["primary"]]
    tasks = sorted({r["task"] for r in prim})
    methods = sorted({r["method"] for r in prim})
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.6), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        for k, method in enumerate(methods):
            pts = sorted((r["ratio"], r["retention"], r["retention_low"], r["retention_high"]) for r in prim
                         if r["task"] == task and r["method"] == method and r["retention"] is not None)
            if pts:
                x, y, lo, hi = (np.array(v, dtype=float) for v in zip(*pts))
                x = x + (k - len(methods) / 2) * 0.003  # small offsets keep overlapping error bars apart
                ax.errorbar(x, y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)],  # a percentile interval may miss the estimate
                             marker="o", ms=3, capsize=2, label=method)
        ax.axhline(threshold, color="grey", ls="--", lw=1)
        metric = next(r["metric"] for r in prim if r["task"] == task)
        ax.set_title(f"{task} ({metric})", fontsize=9)
        ax.set_xlabel("pruning ratio")
    axes[0, 0].set_ylabel("retention (95 % interval)")
    axes[0, -1].legend(fontsize=6, loc="best")
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


def write_report(sweep: Mapping, out: Mapping[str, str | Path], ratio: float = 0.25, reference: str = "avss",
                 threshold: float = 0.9, n_boot: int = 2000, seed: int = 0, damage: Mapping | None = None,
                 scores: Mapping | None = None, calibration: str = "wiki") -> list[dict]:
    """Write every report output; ``out`` maps csv, metrics, summary, layer_scores, retention, heatmap (and,
    with ``damage``, proxies, damage_csv, calibration, damage_ranks) to paths. Everything is computed before
    the first file is written, so bad input leaves nothing."""
    rs = U.Resampler(n_boot, seed)
    all_rows = table_rows(sweep, rs)
    rows = [r for r in all_rows if r["heal"] == "none"]  # the study of the proxies: the models as pruned
    at = _at(rows, ratio)
    extra, study, files = {}, [], {}
    if damage is not None:
        per_layer = {m: v for m, v in sweep["per_layer"].items() if v}
        means = method_means(at)
        n_tasks = len({r["task"] for r in at})
        dmg = S.damage_rows(damage, rs)
        proxies = S.proxy_rows(per_layer, damage, rs, at)
        _, versus = S.avss_vs_reference(per_layer, damage, rs, means, n_tasks)
        calib = S.calibration_rows(scores["_calibrations"], damage, rs, ratio, calibration) \
            if scores and scores.get("_calibrations") else []
        study = S.study_markdown(proxies, damage, versus, calib, ratio)
        extra = {"proxies": {r["method"]: {k: v for k, v in r.items() if k != "method"} for r in proxies},
                 "calibration": {f"{r['method']}@{r['calibration']}": {k: v for k, v in r.items()
                                                                       if k not in ("method", "calibration")}
                                 for r in calib}}
        files = {"proxies": proxies, "damage_csv": dmg, "calibration": calib}
    text = summary_markdown(rows, ratio, reference, threshold,
                            [*H.heal_markdown(all_rows, ratio, threshold, sweep.get("patches")), *study])
    write_table(all_rows, out["csv"], out["metrics"], extra)
    for key, table in files.items():
        _write_csv(table, out[key])
    write_text(out["summary"], text)
    plot_layer_scores(sweep["per_layer"], out["layer_scores"])
    plot_retention(rows, out["retention"], threshold)
    plot_removed_heatmap([r for r in sweep["runs"] if r.get("heal", "none") == "none"], sweep["n_layers"], out["heatmap"])
    if "healing" in out:
        H.plot_healing(all_rows, out["healing"], ratio, threshold)
    if damage is not None:
        S.plot_damage_ranks({m: v for m, v in sweep["per_layer"].items() if v}, files["damage_csv"], damage,
                            out["damage_ranks"])
    return all_rows


def _write_csv(rows: Sequence[dict], path) -> None:
    cols = list(dict.fromkeys(k for r in rows for k in r)) or ["method"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def _read(path, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path}: cannot read {what} ({exc})") from exc


def report_pruning(evaluations_json: str | Path, out: Mapping[str, str | Path], summary: Mapping,
                   bootstrap: Mapping | None = None, damage_json=None, scores_json=None,
                   calibration: str = "wiki") -> list[dict]:
    """Phase ``evaluate_pruning``, report step: evaluations.json (+ damage.json, scores.json) -> tables,
    metrics, plots, summary. ``bootstrap``: {n_boot, seed} (evaluate_pruning.bootstrap)."""
    boot = dict(bootstrap or {})
    n_boot = check_n_boot(boot.get("n_boot", 2000), "evaluate_pruning.bootstrap.n_boot")
    sweep = _read(evaluations_json, "the pruning evaluations")
    damage = _read(damage_json, "the measured damage") if damage_json else None
    scores = _read(scores_json, "the layer scores") if scores_json else None
    return write_report(sweep, out, ratio=float(summary.get("ratio", 0.25)), reference=str(summary.get("reference", "avss")),
                        threshold=float(summary.get("threshold", 0.9)), n_boot=n_boot, seed=int(boot.get("seed", 0)),
                        damage=damage, scores=scores, calibration=calibration)

