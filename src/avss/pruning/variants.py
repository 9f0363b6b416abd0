"""AVSS variants and calibration texts: every capture-derived proxy from one capture_sites pass.

A variant is the ``score.avss`` definition with some fields overridden (``score.variants``):
``{name: {site, variance_axis, sparsity_mode, sparsity_value, combination, guard_delta, variance_scale}}``;
``site`` picks the activation site of results/capture/sites_<calibration>.npz (block_output, block_delta,
mlp_act), ``variance_scale: input_meansq`` divides each layer's variance by E[x_in^2] of its input (a
scale-free variance). Variants appear in scores.json as methods of their own, so the pruning sweep, its
tables and the measured-damage correlations treat them like every other proxy.

For the calibration study, every capture-derived proxy (AVSS, each variant, Block Influence, angular
distance) is recomputed on each calibration text: scores.json ``_calibrations`` = ``{calibration:
{method: {per_layer, ranking, selected}}}``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from avss.sites import SitesCapture
from avss.stats import HistSpec
from pipeutil.io import PipelineError

from .scores import REGISTRY, ScoreConfig, ScoreInputs, score_all

VARIANT_KEYS = ("site", "variance_axis", "sparsity_mode", "sparsity_value", "combination", "guard_delta",
                "variance_scale")
CAPTURE_METHODS = ("avss", "block_influence", "angular_distance")  # proxies a calibration text changes


def site_inputs(sites: SitesCapture, site: str, where: str) -> ScoreInputs:
    """ScoreInputs of one site of a capture_sites result (Block Influence / angular read the block boundaries)."""
    if site not in sites.sites:
        raise PipelineError(f"{where}.site: {site!r} was not captured (capture.sites: {list(sites.sites)})")
    spec = HistSpec(**sites.meta["config"]["hist"])
    return ScoreInputs(sites.sites[site], sites.angular, spec, None, sites.in_meansq)


def variant_config(base: ScoreConfig, spec: Mapping, where: str) -> tuple[str, ScoreConfig]:
    """(site, ScoreConfig computing only 'avss') of one variant; unknown keys name the variant."""
    bad = sorted(set(spec) - set(VARIANT_KEYS))
    if bad:
        raise PipelineError(f"{where}: unknown key(s) {bad}; a variant overrides some of {list(VARIANT_KEYS)}")
    fields = {k: (float(v) if k in ("sparsity_value", "guard_delta") else v) for k, v in spec.items() if k != "site"}
    return str(spec.get("site", "block_output")), dataclasses.replace(base, methods=("avss",), **fields)


def variant_scores(sites: SitesCapture, variants: Mapping[str, Mapping], base: ScoreConfig,
                   where: str = "score.variants") -> dict[str, dict]:
    """scores.json entries of every variant (per_layer, ranking, selected, parts), keyed by variant name."""
    out = {}
    for name, spec in variants.items():
        if name in REGISTRY:
            raise PipelineError(f"{where}.{name}: the name of a variant must differ from the methods {list(REGISTRY)}")
        site, cfg = variant_config(base, dict(spec or {}), f"{where}.{name}")
        entry = score_all(site_inputs(sites, site, f"{where}.{name}"), cfg)["avss"]
        entry["description"] = f"AVSS variant: site {site}, " + ", ".join(f"{k} {v}" for k, v in (spec or {}).items() if k != "site")
        entry["variant"] = {"site": site, **dict(spec or {})}
        out[name] = entry
    return out


def calibration_scores(sites: SitesCapture, variants: Mapping[str, Mapping], base: ScoreConfig) -> dict[str, dict]:
    """Every capture-derived proxy on one calibration: {method: {per_layer, ranking, selected}}."""
    methods = tuple(m for m in CAPTURE_METHODS if m in base.methods)
    full = score_all(site_inputs(sites, "block_output", "score.avss"), dataclasses.replace(base, methods=methods))
    full.update(variant_scores(sites, variants, base))
    return {m: {k: e[k] for k in ("per_layer", "ranking", "selected")} for m, e in full.items()}
