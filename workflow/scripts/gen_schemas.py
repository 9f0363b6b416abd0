"""Write workflow/schemas/<section>.schema.yaml from the parameter models; --check fails when one is out of date.

Usage: python workflow/scripts/gen_schemas.py [--check]   (make schemas)
The models: src/avss/params.py and src/ball3d/params.py (one per params.yaml section).
"""
import argparse
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(root / "src"))

from avss.params import SECTIONS as LLM
from ball3d.params import SECTIONS as VISION
from pipeutil.io import write_text
from pipeutil.paramschema import render

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--check", action="store_true", help="exit 1 if a schema file differs from the generated text")
args = ap.parse_args()
folder = root / "workflow" / "schemas"
wanted = {f"{name}.schema.yaml": render(model) for name, model in {**LLM, **VISION}.items()}
stale = sorted(p.name for p in folder.glob("*.schema.yaml") if p.name not in wanted)
changed = sorted(n for n, text in wanted.items() if not (folder / n).is_file() or (folder / n).read_text() != text)
if args.check:
    if stale or changed:
        sys.exit(f"workflow/schemas is out of date ({', '.join(changed + stale)}): run `make schemas` and commit")
    print("workflow/schemas is up to date")
else:
    for name in changed:
        write_text(folder / name, wanted[name])
    for name in stale:
        (folder / name).unlink()
    print(f"wrote {len(changed)} schema file(s), removed {len(stale)}")
