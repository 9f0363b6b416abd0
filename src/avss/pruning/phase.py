"""Phases ``score``, ``prune`` and ``evaluate_pruning``: the functions their rules call (I/O at the edges).

- results/score/scores.json                (``run_score_layers``; see ``avss.pruning.scores``), ``_meta``: provenance
- results/score/*.png                      (``run_score_plots``)
- results/prune/<method>/<ratio|nK>/       (``run_prune_model``; see ``avss.pruning.prune``)
- results/evaluate_pruning/evaluations.json + timings.json (``run_evaluate_pruning``; ``avss.pruning.sweep``)
- results/evaluate_pruning/damage.json     (``run_layer_damage``: every layer removed alone; ``avss.pruning.damage``)
- results/evaluate_pruning/ table, metrics, summary, plots (``run_report_pruning``; ``avss.pruning.report``,
  the proxies-vs-damage study ``avss.pruning.study``)
"""
from __future__ import annotations

import json
from pathlib import Path

from avss.activations import load_capture
from avss.hf_io import load_pretrained
from avss.sites import load_sites
from avss.stats import HistSpec
from pipeutil.device import resolve_device
from pipeutil.io import PipelineError, write_json

from .damage import run_layer_damage as layer_damage_phase
from .plots import plot_scores_file
from .prune import save_pruned
from .report import report_pruning
from .scores import ScoreConfig, ScoreInputs, score_all
from .sweep import run_evaluate_pruning  # noqa: F401  (the rule evaluate_pruning calls it from here)
from .variants import calibration_scores, variant_scores


def score_config(p: dict) -> ScoreConfig:
    a = p["avss"]
    return ScoreConfig(variance_axis=a["variance_axis"], sparsity_mode=a["sparsity_mode"],
                       sparsity_value=float(a["sparsity_value"]), combination=a["combination"],
                       guard_delta=float(a["guard_delta"]), cumulative_budget=float(a["cumulative_budget"]),
                       ratios=tuple(float(r) for r in p["ratios"]), counts=tuple(int(c) for c in p.get("counts", [])),
                       protect_first=bool(p["protect_first"]), protect_last=bool(p["protect_last"]),
                       seed=int(p["seed"]), methods=tuple(p["methods"]))


def run_score_layers(npz_path, json_path, ppl_path, p: dict, out_json, sites: dict | None = None) -> dict:
    """Every method's per-layer scores, ranking and selections -> scores.json.

    sites: {calibration name: (npz, json)} of capture_sites; the AVSS variants (``p['variants']``) become
    methods, computed on calibration ``p['calibration']``; ``_calibrations`` holds every capture-derived
    proxy on every calibration text (avss.pruning.variants).
    """
    res = load_capture(npz_path, json_path)
    try:
        ppl = json.loads(Path(ppl_path).read_text()) if ppl_path else None
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{ppl_path}: cannot read the leave-one-out perplexities ({exc})") from exc
    cfg = score_config(p)
    scores = score_all(ScoreInputs(res.layers, res.angular, HistSpec(**res.meta["config"]["hist"]), ppl), cfg)
    calibrations = {}
    if sites:
        captured = {name: load_sites(*paths) for name, paths in sites.items()}
        primary = p.get("calibration", "wiki")
        if primary not in captured:
            raise PipelineError(f"score.calibration: {primary!r} is not a captured calibration ({sorted(captured)})")
        scores.update(variant_scores(captured[primary], p.get("variants") or {}, cfg))
        calibrations = {name: calibration_scores(c, p.get("variants") or {}, cfg) for name, c in captured.items()}
    elif p.get("variants"):
        raise PipelineError("score.variants: the AVSS variants need the capture_sites statistics (none given)")
    if calibrations:
        scores["_calibrations"] = calibrations
    meta = {"n_layers": len(res.layers), "model_dir": res.meta.get("model_dir"), "n_tokens": res.meta["n_tokens"],
            "capture": res.meta["config"], "score": p}
    write_json(out_json, {"_meta": meta, **scores})
    return scores


def selection_of(scores: dict, method: str, sel: str) -> list[int]:
    """Layers of ``method`` at ``sel`` ("0.25" = ratio, "n8" = count) from scores.json content."""
    if method not in scores or method.startswith("_"):
        raise PipelineError(f"prune.save: method {method!r} is not in scores.json (methods: "
                            f"{[m for m in scores if m != '_meta']})")
    table, key = (scores[method]["selected_count"], sel[1:]) if sel.startswith("n") else (scores[method]["selected"], sel)
    if key not in table:
        raise PipelineError(f"prune.save: {method} has no selection {sel!r}; add the ratio to score.ratios "
                            f"or the count to score.counts (available: {sorted(table)})")
    return table[key]


def run_prune_model(model_dir, scores_path, method: str, sel: str, p: dict, out_dir) -> dict:
    """Save the model with ``method``'s selection ``sel`` removed as a Hugging Face folder (verified)."""
    scores = json.loads(Path(scores_path).read_text())
    layers = selection_of(scores, method, sel)
    model, tok = load_pretrained(model_dir, resolve_device(p["device"], "prune.device"), "auto")
    ids = tok(p["check_prompt"], return_tensors="pt")["input_ids"].to(next(model.parameters()).device)  # [1, T]
    info = {"method": method, "selection": sel, "source_model": str(model_dir), "dtype": str(model.dtype)}
    return save_pruned(model, tok, layers, out_dir, info, ids)


def run_score_plots(scores_json, per_layer_png, avss_png) -> None:
    """Per-layer scores of every method and the parts of AVSS (results/score/*.png)."""
    plot_scores_file(scores_json, per_layer_png, avss_png)


def run_report_pruning(evaluations_json, out: dict, p: dict, damage_json=None, scores_json=None,
                       calibration: str = "wiki") -> list:
    """Retention table, DVC metrics, plots and the generated summary of the sweep, with the measured-damage
    study when ``damage_json`` is given (``out``: name -> path; ``p``: the evaluate_pruning section)."""
    return report_pruning(evaluations_json, out, p["summary"], p.get("bootstrap"), damage_json, scores_json,
                          calibration)


def run_layer_damage(model_dir, datasets_dir, p: dict, out_json, threads=None, timings_json=None) -> dict:
    """Every layer removed alone on the damage items (``p``: the evaluate_pruning section) -> damage.json."""
    return layer_damage_phase(model_dir, datasets_dir, p, out_json, threads, timings_json)


