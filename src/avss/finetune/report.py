"""The evaluate_hallucination report: changes vs the base model and EAVSS minus each control, with intervals.

Inputs are the run files of every (arm, seed, fold): ``base`` and the DoLa arms (``dola_<bucket>``, no seed)
and the fine-tuned variants (one run per seed). Every arm of a fold is evaluated on the same held-out
documents (checked by id), so per task the items of all folds are concatenated in fold order and the
arms are compared item by item:

- an arm's per-item value is the mean over its seeds (seed-averaged model); its per-seed scores give the
  spread (mean, sd over seeds);
- one bootstrap resampling of the task's items (pipeutil.bootstrap.weights, stream = task name) is shared
  by every arm, so each interval is paired: change = arm - base, EAVSS - control;
- a change is called an improvement (or a loss) only when its 95 % interval excludes 0; otherwise it is
  "indistinguishable at n = ...", with the smallest difference the items could have detected.
"""
from __future__ import annotations

from collections.abc import Mapping

import math

import numpy as np

from pipeutil.bootstrap import detectable_difference, diff_ci, weights
from pipeutil.io import PipelineError

FT_CONTROLS = ("random", "avss_topk", "all_layers")


def verdict(iv) -> str:
    """'improvement' / 'worse' when the interval excludes 0, else 'indistinguishable'."""
    if iv.low > 0:
        return "improvement"
    if iv.high < 0:
        return "worse"
    return "indistinguishable"


def _detectable(iv) -> float | None:
    d = detectable_difference(iv.se) if math.isfinite(iv.se) else math.nan
    return d if math.isfinite(d) else None


def _arm_runs(runs: list[dict]) -> dict[str, dict]:
    """{arm: {seed (None for base / DoLa): {fold: run}}} with every arm on the same folds and seeds."""
    arms: dict[str, dict] = {}
    for r in runs:
        per = arms.setdefault(r["variant"], {}).setdefault(r.get("seed"), {})
        if r["fold"] in per:
            raise PipelineError(f"evaluate_hallucination: two runs of {r['variant']} seed {r.get('seed')} "
                                f"fold {r['fold']}")
        per[r["fold"]] = r
    if "base" not in arms:
        raise PipelineError("evaluate_hallucination: the base model's evaluation is missing")
    folds = sorted(next(iter(arms["base"].values())))
    for arm, seeds in arms.items():
        for seed, per in seeds.items():
            if sorted(per) != folds:
                raise PipelineError(f"evaluate_hallucination: {arm} seed {seed} has folds {sorted(per)}, "
                                    f"expected {folds}")
    return arms


def _items(run: dict, task: str, metric: str, ids: list | None) -> tuple[list, list[float]]:
    res = run["results"].get(task)
    if res is None or metric not in res.get("items", {}):
        raise PipelineError(f"evaluate_hallucination: run {run['variant']} fold {run['fold']} has no per-item "
                            f"values of {task}/{metric} (re-run evaluate_hallucination_run)")
    if ids is not None and list(res["ids"]) != list(ids):
        raise PipelineError(f"evaluate_hallucination: {run['variant']} fold {run['fold']} was evaluated on other "
                            f"{task} documents than the base model: the comparison would not be paired")
    return list(res["ids"]), [float(x) for x in res["items"][metric]]


def item_matrix(runs: list[dict], metrics: Mapping[str, list[str]]) -> dict:
    """{(task, metric): {"n_per_fold": [...], "arms": {arm: {seed: values [n]}}}} over all folds."""
    arms = _arm_runs(runs)
    folds = sorted(next(iter(arms["base"].values())))
    out = {}
    for task, names in metrics.items():
        for m in names:
            ids = {f: _items(arms["base"][None][f], task, m, None)[0] for f in folds}
            cell = {}
            for arm, seeds in arms.items():
                cell[arm] = {s: np.concatenate([_items(per[f], task, m, ids[f])[1] for f in folds])
                             for s, per in seeds.items()}
            out[(task, m)] = {"n_per_fold": [len(ids[f]) for f in folds], "arms": cell}
    return out


def _seed_stats(per_seed: dict) -> dict:
    vals = np.array([v.mean() for v in per_seed.values()])
    return {"seeds": [s for s in per_seed], "per_seed": [float(v) for v in vals],
            "seed_mean": float(vals.mean()), "seed_sd": float(vals.std(ddof=1)) if len(vals) > 1 else None}


def compare_all(runs: list[dict], metrics: Mapping[str, list[str]], n_boot: int = 2000, seed: int = 0) -> dict:
    """Rows of every arm's change vs base, and EAVSS minus each other arm, all with paired intervals."""
    mat = item_matrix(runs, metrics)
    rows, diffs = [], []
    for (task, m), cell in mat.items():
        n = int(sum(cell["n_per_fold"]))
        w = weights(n, n_boot, seed, stream=task, key="evaluate_hallucination.bootstrap.n_boot")
        arm_items = {a: np.mean(list(s.values()), axis=0) for a, s in cell["arms"].items()}  # seed-averaged [n]
        base = arm_items["base"]
        for arm, x in arm_items.items():
            if arm == "base":
                continue
            iv = diff_ci(x, base, w)
            b = float(base.mean())
            rows.append({"variant": arm, "task": task, "metric": m, "value": float(x.mean()), "base": b,
                         "abs_change": iv.estimate, "relative_change": iv.estimate / b if b else None,
                         "ci": iv.to_dict(), "verdict": verdict(iv), "n": n, "n_per_fold": cell["n_per_fold"],
                         "detectable": _detectable(iv), **_seed_stats(cell["arms"][arm])})
        if "eavss" in arm_items:
            for other, x in arm_items.items():
                if other in ("base", "eavss"):
                    continue
                iv = diff_ci(arm_items["eavss"], x, w)
                diffs.append({"control": other, "task": task, "metric": m, "diff": iv.estimate, "ci": iv.to_dict(),
                              "verdict": verdict(iv), "n": n, "detectable": _detectable(iv)})
    return {"rows": rows, "eavss_vs": diffs, "n_boot": int(n_boot)}


def _ci(r: dict) -> str:
    c = r["ci"]
    return "n/a" if c["low"] is None else f"[{c['low']:+.4f}, {c['high']:+.4f}]"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f} %"


def markdown_table(res: dict) -> str:
    lines = ["| variant | task | metric | value | seed sd | base | change | 95 % CI | verdict | n |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        sd = "n/a" if r["seed_sd"] is None else f"{r['seed_sd']:.4f}"
        lines.append(f"| {r['variant']} | {r['task']} | {r['metric']} | {r['value']:.4f} | {sd} | {r['base']:.4f} | "
                     f"{r['abs_change']:+.4f} ({_pct(r['relative_change'])}) | {_ci(r)} | {r['verdict']} | {r['n']} |")
    lines += ["", "| EAVSS minus | task | metric | difference | 95 % CI | verdict | n |", "|---|---|---|---|---|---|---|"]
    for d in res["eavss_vs"]:
        lines.append(f"| {d['control']} | {d['task']} | {d['metric']} | {d['diff']:+.4f} | {_ci(d)} | "
                     f"{d['verdict']} | {d['n']} |")
    return "\n".join(lines) + "\n"


def _say(d: dict, value_key: str) -> str:
    word = {"improvement": "better", "worse": "worse"}.get(d["verdict"])
    where = f"{d['task']} {d['metric']}: {d[value_key]:+.4f} {_ci(d)}"
    if word:
        return f"{where}, {word} (the interval excludes 0)"
    det = "n/a" if d["detectable"] is None else f"about {d['detectable']:.3f}"
    return f"{where}, indistinguishable at n = {d['n']} (smallest detectable difference: {det})"


def summary_text(res: dict, budget: Mapping | None = None) -> str:
    """Generated Markdown: the verdict on EAVSS vs each control, then every arm's change vs base."""
    rows, diffs = res["rows"], res["eavss_vs"]
    budget = dict(budget or {})
    n_fold = {f"{r['task']}": r["n_per_fold"] for r in rows}
    lines = ["# EAVSS-targeted fine-tuning vs same-budget controls and DoLa", "",
             "Held-out questions per fold (no evaluated question was seen in fine-tuning or layer selection): "
             + ", ".join(f"{t} {'/'.join(map(str, n))}" for t, n in n_fold.items()) + ".",
             f"Intervals: 95 % paired bootstrap over the held-out items ({res['n_boot']} resamples, the same "
             "resampled items for every variant); fine-tuned variants are averaged over their seeds per item.", ""]
    if budget:
        lines += [f"Fine-tuning budget: {budget}.", ""]
    lines += ["## Does EAVSS-targeted fine-tuning beat the controls on held-out folds?", ""]
    for ctl in dict.fromkeys(d["control"] for d in diffs):
        mine = [d for d in diffs if d["control"] == ctl]
        up = sorted({d["task"] for d in mine if d["verdict"] == "improvement"})
        down = sorted({d["task"] for d in mine if d["verdict"] == "worse"})
        head = (f"**yes** on {', '.join(up)}" if up else "**no** significant win") + \
            (f"; **worse** on {', '.join(down)}" if down else "")
        lines.append(f"- EAVSS minus **{ctl}**: {head} ({len(mine)} metrics).")
        lines += [f"  - {_say(d, 'diff')}" for d in mine]
    if not diffs:
        lines.append("- (no EAVSS variant in this run)")
    lines += ["", "## Change of each variant vs the base model", ""]
    for arm in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == arm]
        n_up = sum(r["verdict"] == "improvement" for r in mine)
        lines.append(f"- **{arm}**: an improvement on {n_up} of {len(mine)} metrics.")
        for r in mine:
            spread = "" if r["seed_sd"] is None else \
                f"; seeds {', '.join(f'{v:.4f}' for v in r['per_seed'])} (sd {r['seed_sd']:.4f})"
            lines.append(f"  - {_say(r, 'abs_change')}; {r['base']:.4f} -> {r['value']:.4f}{spread}")
    lines += ["", "A change is called an improvement only when its interval excludes 0.", ""]
    return "\n".join(lines)


def nested_metrics(res: dict) -> dict:
    """DVC metrics: {variant: {task: {metric: {...}}}, "eavss_vs": {control: {task: {metric: {...}}}}}."""
    out: dict = {}
    for r in res["rows"]:
        out.setdefault(r["variant"], {}).setdefault(r["task"], {})[r["metric"]] = {
            "value": r["value"], "base": r["base"], "abs_change": r["abs_change"],
            "relative_change": r["relative_change"], "ci_low": r["ci"]["low"], "ci_high": r["ci"]["high"],
            "verdict": r["verdict"], "seed_sd": r["seed_sd"], "n": r["n"]}
    vs: dict = {}
    for d in res["eavss_vs"]:
        vs.setdefault(d["control"], {}).setdefault(d["task"], {})[d["metric"]] = {
            "diff": d["diff"], "ci_low": d["ci"]["low"], "ci_high": d["ci"]["high"], "verdict": d["verdict"]}
    out["eavss_vs"] = vs
    return out
