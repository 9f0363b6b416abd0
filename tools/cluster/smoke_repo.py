"""Build the smoke workflow (the one tests/test_workflow_dag.py runs) in a fresh folder.

Usage: python tools/cluster/smoke_repo.py DEST

DEST gets a copy of the working tree (tracked + untracked, not ignored files), the tiny inputs of
tests/smoke_inputs.py under tests/_smoke/, and params.yaml = tests/params.smoke.yaml merged over
params.yaml. DEST must not exist yet or be empty.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from repo_copy import copy_repo  # noqa: E402
from smoke_inputs import write_smoke_inputs  # noqa: E402


def merge(base: dict, over: dict) -> dict:
    """``over`` merged key by key into a copy of ``base`` (nested mappings merged, the rest replaced)."""
    out = copy.deepcopy(base)
    for key, val in over.items():
        out[key] = merge(out[key], val) if isinstance(val, dict) and isinstance(out.get(key), dict) else val
    return out


def build(dest: Path) -> Path:
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"smoke_repo: {dest} is not empty; expected a new or empty folder")
    dest.mkdir(parents=True, exist_ok=True)
    copy_repo(dest)
    write_smoke_inputs(dest)
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()),
                   yaml.safe_load((ROOT / "tests/params.smoke.yaml").read_text()))
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    print(build(ap.parse_args().dest))
