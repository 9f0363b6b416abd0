"""Phase ``download``: the functions its rules call (download_model, download_dataset, download_manifest)."""
from __future__ import annotations

import json
from pathlib import Path

from pipeutil.io import PipelineError, job_workdir, write_json, write_text

from . import datasets as ds
from .model_io import materialise_model


def run_download_model(model_cfg: dict, dl_cfg: dict, out_dir: str, entry_out: str) -> dict:
    entry = materialise_model(model_cfg, dl_cfg["cache_dir"], dl_cfg.get("pip"), out_dir,
                              dl_cfg.get("allow_outside_project", True))
    write_json(entry_out, entry)
    return entry


def run_download_dataset(name: str, cfg: dict, dl_cfg: dict, out_path: str, entry_out: str) -> dict:
    with job_workdir(dl_cfg["cache_dir"], f"dataset-{name}") as work:  # the extracted member
        data, entry = ds.materialise(name, cfg, dl_cfg["cache_dir"], dl_cfg.get("pip"), work,
                                     dl_cfg.get("allow_outside_project", True))
    ds.save(name, data, out_path)
    entry["path"] = out_path
    write_json(entry_out, entry)
    return entry


def run_download_manifest(model_entry: str, dataset_entries: dict[str, str], out_json: str, out_tsv: str) -> dict:
    """Merge the per-item manifest entries into one manifest (JSON + a TSV table for the report)."""
    try:
        manifest = {"model": json.loads(Path(model_entry).read_text()),
                    "datasets": {n: json.loads(Path(p).read_text()) for n, p in sorted(dataset_entries.items())}}
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"cannot read a manifest entry: {exc}") from exc
    cols = ["name", "kind", "rows", "source", "member", "sha256", "licence"]
    lines = ["\t".join(cols)]
    m = manifest["model"]
    lines.append("\t".join(map(str, ["model", m.get("model_type"), f"{m.get('num_hidden_layers')} layers",
                                     m.get("source"), m.get("member"), m.get("sha256"), m.get("licence")])))
    for name, e in manifest["datasets"].items():
        lines.append("\t".join(str(e.get(c)) if c != "name" else name for c in cols))
    write_json(out_json, manifest)
    write_text(out_tsv, "\n".join(lines) + "\n")
    return manifest
