"""The site-statistics files of ``capture_sites`` (results/capture/sites_<calibration>.npz/.json).

Shared by the capture phase (writer: avss.capture.sites) and the score phase (reader: the AVSS variants of
avss.pruning.variants), so that neither stage imports the other. Files: ``<name>.npz`` (per site the
stacked accumulator state under ``<site>/<key>``, ``angular`` [L + 1, L + 1], ``in_meansq`` [L]) and
``<name>.json`` (metadata, per-site per-layer summary).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from avss.stats import LayerStats, finish_layer
from pipeutil.io import PipelineError, atomic_path, write_json

__all__ = ["SitesCapture", "finish_sites", "load_sites", "save_sites"]


@dataclass
class SitesCapture:
    sites: dict[str, list[LayerStats]]  # site -> one record per layer
    angular: np.ndarray  # [L + 1, L + 1]
    in_meansq: np.ndarray  # [L] mean over tokens and features of x_in ** 2 per layer
    states: dict[str, list[dict]]
    meta: dict



def finish_sites(states, ang, in_meansq, meta) -> SitesCapture:
    thr = tuple(meta["config"]["thresholds"])
    layers = {s: [finish_layer(i, st, thr, ang[i, i + 1]) for i, st in enumerate(sts)] for s, sts in states.items()}
    if not (np.all(np.isfinite(ang)) and np.all(np.isfinite(in_meansq)) and np.all(in_meansq > 0)):
        raise PipelineError("capture_sites: NaN, inf or zero in the angular distances or the input scale")
    return SitesCapture(layers, ang, in_meansq, states, meta)


def save_sites(res: SitesCapture, npz_path, json_path, extra_meta: dict | None = None) -> None:
    arrays = {f"{s}/{k}": np.stack([st[k] for st in sts]) for s, sts in res.states.items() for k in sts[0]}
    arrays.update(angular=res.angular, in_meansq=res.in_meansq)
    with atomic_path(npz_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    summary = {s: [{k: v for k, v in asdict(ls).items() if k not in ("hist", "feature_mean", "feature_var")}
                   for ls in layers] for s, layers in res.sites.items()}
    write_json(json_path, {**res.meta, **(extra_meta or {}), "in_meansq": res.in_meansq, "layers": summary})


def load_sites(npz_path, json_path) -> SitesCapture:
    """Read what save_sites wrote; NaN or inf raises PipelineError naming the site and layer."""
    try:
        meta = json.loads(Path(json_path).read_text())
        with np.load(npz_path) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{npz_path}: cannot read the site statistics ({exc})") from exc
    states = {}
    for site in meta["sites"]:
        keys = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(site + "/")}
        n = keys["count"].shape[0]
        for k, arr in keys.items():
            bad = ~np.isfinite(arr.reshape(n, -1)).all(1) if arr.dtype.kind == "f" else np.zeros(n, bool)
            if bad.any():
                raise PipelineError(f"{npz_path}: site {site} layer {int(np.argmax(bad))}: NaN or inf in {k!r}")
        states[site] = [{k: arr[i] for k, arr in keys.items()} for i in range(n)]
    for k in ("layers", "in_meansq"):
        meta.pop(k, None)
    return finish_sites(states, arrays["angular"], arrays["in_meansq"], meta)
