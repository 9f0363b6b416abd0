"""The layer-importance study: every proxy against the measured damage, AVSS variants vs Block Influence,
and the calibration text's effect (pure: records in, rows, markdown and a figure out).

Measured damage (avss.pruning.damage): for each task of the damage record, ``D[i, l]`` is the loss of
document i when layer l alone is removed: dense - without for a mean metric (SciQ accuracy), the
log-likelihood lost for a perplexity (the per-layer mean ranks layers like the perplexity increase).
A proxy's per-layer importance is judged by its Spearman correlation with the per-layer mean of D
(higher importance should mean more damage), with a bootstrap interval over the damage items.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as _st

from avss.evaluation.metrics import get_metric
from pipeutil import bootstrap as B
from pipeutil.figures import plt, save_figure
from pipeutil.io import PipelineError

from . import uncertainty as U

REFERENCE = "block_influence"


def damage_items(damage: Mapping, task: str) -> tuple[np.ndarray, str]:
    """(D [n, L] per-document damage of removing each layer alone, primary metric) of one damage task."""
    dense = damage["dense"][task]
    metric = dense["primary"]
    agg = get_metric(metric).aggregation
    base = np.asarray(dense["items"][metric], dtype=np.float64)
    cols = []
    for layer, res in enumerate(damage["without"]):
        if res[task]["ids"] != dense["ids"]:
            raise PipelineError(f"damage: layer {layer} was scored on other {task} documents than the dense model")
        x = np.asarray(res[task]["items"][metric], dtype=np.float64)
        if agg == "mean":
            cols.append(base - x if dense["higher_is_better"][metric] else x - base)
        else:  # (ll, units): log-likelihood lost per document
            cols.append(base[:, 0] - x[:, 0])
    return np.stack(cols, axis=1), metric  # [n, L]


def damage_rows(damage: Mapping, rs: U.Resampler) -> list[dict]:
    """Per (task, layer): the measured damage with its interval (accuracy drop; perplexity ratio without / dense)."""
    rows = []
    for task in damage["dense"]:
        dense = damage["dense"][task]
        metric = dense["primary"]
        w = rs(f"damage:{task}", len(dense["ids"]))
        d = U.metric_boot(dense["items"][metric], metric, w)
        for layer, res in enumerate(damage["without"]):
            p = U.metric_boot(res[task]["items"][metric], metric, w)
            hib = dense["higher_is_better"][metric]
            iv = (d - p if hib else U.retention_boot(d, p, False)).interval(len(dense["ids"]))
            rows.append({"task": task, "metric": metric, "layer": layer, "n": len(dense["ids"]),
                         "measure": "drop (dense - without)" if hib else "ratio without / dense",
                         "damage": iv.estimate, "damage_low": iv.low, "damage_high": iv.high})
    return rows


def proxy_rows(per_layer: Mapping[str, Sequence[float]], damage: Mapping, rs: U.Resampler,
               decision: Sequence[dict] = ()) -> list[dict]:
    """Per proxy: Spearman with the measured damage of each damage task [interval], and the retention of
    its selection at the decision ratio on the same tasks (``decision``: primary rows of that ratio)."""
    rows = []
    n_layers = int(damage["n_layers"])
    targets = {t: damage_items(damage, t) for t in damage["dense"]}
    for method, vals in per_layer.items():
        if len(vals) != n_layers:
            continue  # methods without per-layer scores (e.g. an explicit list) have no rank
        row = {"method": method}
        for task, (D, _) in targets.items():
            iv = B.spearman_ci(np.asarray(vals, dtype=float), D, rs(f"damage:{task}", D.shape[0]))
            row.update({f"spearman_{task}": _f(iv.estimate), f"spearman_{task}_low": _f(iv.low),
                        f"spearman_{task}_high": _f(iv.high)})
        for r in decision:
            if r["method"] == method and r["task"] in targets:
                row.update({f"retention_{r['task']}": r["retention"], f"retention_{r['task']}_low": r["retention_low"],
                            f"retention_{r['task']}_high": r["retention_high"]})
        rows.append(row)
    return rows


def _f(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _ci(row: Mapping, key: str) -> str:
    if row.get(key) is None:
        return "n/a"
    return f"{row[key]:.3f} [{row[key + '_low']:.3f}, {row[key + '_high']:.3f}]"


def avss_vs_reference(per_layer: Mapping, damage: Mapping, rs: U.Resampler, means: Mapping[str, U.Boot | None],
                      n_tasks: int) -> tuple[list[dict], list[str]]:
    """Every AVSS definition (avss and its variants) against Block Influence: paired difference of the
    Spearman correlation with each damage task, and of the mean retention at the decision ratio."""
    if REFERENCE not in per_layer:
        return [], [f"{REFERENCE} is not among the methods: no AVSS-vs-{REFERENCE} comparison."]
    targets = {t: damage_items(damage, t)[0] for t in damage["dense"]}
    rows, lines = [], []
    ref = np.asarray(per_layer[REFERENCE], dtype=float)
    for method in (m for m in per_layer if m.startswith("avss") and len(per_layer[m]) == len(ref)):
        row = {"method": method}
        for task, D in targets.items():
            iv = B.spearman_diff_ci(np.asarray(per_layer[method], dtype=float), ref, D, rs(f"damage:{task}", D.shape[0]))
            row[f"rho_{task}"] = iv
        if means.get(method) is not None and means.get(REFERENCE) is not None:
            row["retention"] = (means[method] - means[REFERENCE]).interval(n_tasks)
        rows.append(row)
    beats = [r["method"] for r in rows if any(v.low > 0 for k, v in r.items() if k != "method")]
    worse_all = [r["method"] for r in rows if all(v.high < 0 for k, v in r.items() if k != "method")]
    if beats:
        answer = f"yes: {', '.join(beats)} beat{'s' if len(beats) == 1 else ''} {REFERENCE} on at least one measure"
    elif len(worse_all) == len(rows):
        answer = f"no: every AVSS definition is worse than {REFERENCE} on every measure (intervals exclude 0)"
    else:
        tied = [r["method"] for r in rows if r["method"] not in worse_all]
        answer = (f"none beats it; {', '.join(tied)} cannot be told apart from {REFERENCE} on at least one measure at "
                  "this sample size (no interval excludes 0 in its favour); the others are worse")
    lines += [f"**Does any AVSS definition match or beat {REFERENCE}? {answer}.**", ""]
    head = [f"rho({t}) - rho({REFERENCE})" for t in targets] + ["mean retention - " + REFERENCE]
    lines += ["| AVSS definition | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    for r in rows:
        cells = [r.get(f"rho_{t}") for t in targets] + [r.get("retention")]
        lines.append(f"| {r['method']} | " + " | ".join("n/a" if c is None else f"{c.estimate:+.3f} [{c.low:+.3f}, "
                                                         f"{c.high:+.3f}]" for c in cells) + " |")
    return rows, lines


def jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    a, b = set(a), set(b)
    return 1.0 if not a | b else len(a & b) / len(a | b)


def calibration_rows(calibrations: Mapping[str, Mapping], damage: Mapping | None, rs: U.Resampler,
                     ratio: float, primary: str) -> list[dict]:
    """Per capture-derived proxy and other calibration: Jaccard overlap of the selections at ``ratio`` with the
    primary calibration's, and the change of the Spearman correlation with each damage task [interval]."""
    if primary not in calibrations:
        raise PipelineError(f"scores.json _calibrations: no {primary!r} calibration (have {sorted(calibrations)})")
    key = next((k for k in next(iter(calibrations[primary].values()))["selected"] if abs(float(k) - ratio) < 1e-9), None)
    if key is None:
        raise PipelineError(f"calibration study: ratio {ratio} is not among the selections of scores.json")
    targets = {t: damage_items(damage, t)[0] for t in damage["dense"]} if damage else {}
    rows = []
    for name, methods in calibrations.items():
        if name == primary:
            continue
        for method, entry in methods.items():
            base = calibrations[primary].get(method)
            if base is None:
                continue
            row = {"method": method, "calibration": name, "versus": primary,
                   "jaccard": jaccard(entry["selected"][key], base["selected"][key]),
                   "selected": " ".join(map(str, entry["selected"][key])),
                   "selected_primary": " ".join(map(str, base["selected"][key]))}
            for task, D in targets.items():
                w = rs(f"damage:{task}", D.shape[0])
                mine = B.spearman_ci(np.asarray(entry["per_layer"], float), D, w)
                diff = B.spearman_diff_ci(np.asarray(entry["per_layer"], float), np.asarray(base["per_layer"], float), D, w)
                row.update({f"spearman_{task}": _f(mine.estimate), f"spearman_{task}_low": _f(mine.low),
                            f"spearman_{task}_high": _f(mine.high), f"change_{task}": _f(diff.estimate),
                            f"change_{task}_low": _f(diff.low), f"change_{task}_high": _f(diff.high)})
            rows.append(row)
    return rows


def study_markdown(proxies: Sequence[dict], damage: Mapping, versus: Sequence[str], calib: Sequence[dict],
                   ratio: float) -> list[str]:
    tasks = list(damage["dense"])
    lines = ["## Proxies against the measured damage", "",
             (f"Measured damage: each of the {damage['n_layers']} layers removed alone, on "
              + ", ".join(f"{t} (n = {damage['tasks'][t]}, {damage['dense'][t]['primary']})" for t in tasks)
              + ". Spearman correlation of each proxy's per-layer importance with the per-layer damage (95 % "
              "bootstrap interval over the damage items); retention of the proxy's own selection at "
              f"{ratio:.1%} (the measured damage of that set, decision items)."), "",
             "| proxy | " + " | ".join(f"Spearman {t}" for t in tasks) + " | "
             + " | ".join(f"retention {t} at {ratio:g}" for t in tasks) + " |",
             "|---|" + "---|" * (2 * len(tasks))]
    for r in sorted(proxies, key=lambda r: -(r.get(f"spearman_{tasks[0]}") or -2)):
        lines.append(f"| {r['method']} | " + " | ".join(_ci(r, f"spearman_{t}") for t in tasks) + " | "
                     + " | ".join(_ci(r, f"retention_{t}") for t in tasks) + " |")
    lines += ["", "## AVSS definitions against Block Influence", "", *versus, ""]
    if calib:
        lines += ["## Calibration text", "",
                  ("Capture-derived proxies recomputed on another calibration text: Jaccard overlap of the layers "
                   f"selected at {ratio:.1%}, and the Spearman correlation with the measured damage on that text with "
                   "its change against the primary calibration (paired interval)."), "",
                  "| proxy | calibration | Jaccard | " + " | ".join(f"Spearman {t} (change)" for t in tasks) + " |",
                  "|---|---|---|" + "---|" * len(tasks)]
        for r in calib:
            cells = [f"{_ci(r, f'spearman_{t}')} ({_ci(r, f'change_{t}')})" for t in tasks]
            lines.append(f"| {r['method']} | {r['calibration']} vs {r['versus']} | {r['jaccard']:.2f} | "
                         + " | ".join(cells) + " |")
        lines.append("")
    return lines


def plot_damage_ranks(per_layer: Mapping[str, Sequence[float]], damage_table: Sequence[dict], damage: Mapping,
                      path) -> None:
    """Top: measured damage per layer with 95 % intervals (one panel per damage task). Bottom: per layer,
    the rank of every proxy (0 = least important) beside the rank of the measured damage."""
    tasks = list(damage["dense"])
    n = int(damage["n_layers"])
    proxies = [m for m, v in per_layer.items() if len(v) == n]
    names = [f"measured: {t}" for t in tasks] + proxies
    ranks = [_st.rankdata(damage_items(damage, t)[0].mean(0)) - 1 for t in tasks]
    ranks += [_st.rankdata(np.asarray(per_layer[m], float)) - 1 for m in proxies]
    fig, axes = plt.subplots(len(tasks) + 1, 1, figsize=(0.3 * n + 4, 2.0 * len(tasks) + 0.35 * len(names) + 1.5),
                             squeeze=False, gridspec_kw={"height_ratios": [2.0] * len(tasks) + [0.35 * len(names)]})
    for ax, task in zip(axes[:-1, 0], tasks):
        rows = sorted((r for r in damage_table if r["task"] == task), key=lambda r: r["layer"])
        y = np.array([r["damage"] for r in rows])
        lo, hi = np.array([r["damage_low"] for r in rows]), np.array([r["damage_high"] for r in rows])
        ax.bar(range(n), y, color="tab:red", yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)], capsize=2)
        if rows[0]["measure"].startswith("ratio"):
            ax.set_yscale("log")  # removing layer 0 multiplies the perplexity by orders of magnitude
        ax.set_ylabel(f"{task}\n{rows[0]['measure']}", fontsize=7)
        ax.tick_params(labelsize=7)
    ax = axes[-1, 0]
    im = ax.imshow(np.array(ranks), cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xticks(range(n), [str(i) for i in range(n)], fontsize=7)
    ax.set_xlabel("layer (colour: rank, 0 = least important / least damage)")
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    fig.suptitle("Measured damage of removing each layer alone, and every proxy's rank", fontsize=10)
    save_figure(fig, path)
