"""Write dvc.yaml from the Snakemake DAG (one stage per phase); --check fails when it is out of date.

Usage: python workflow/scripts/gen_dvc.py [--check] [--configfile extra.yaml ...]
"""
import argparse
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(root / "src"))

from pipeutil.dvcgen import generate  # noqa: E402
from pipeutil.io import PipelineError, write_text  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml differs from the generated text")
ap.add_argument("--configfile", action="append", default=[], help="extra Snakemake config files")
args = ap.parse_args()
try:
    text = generate(root, args.configfile)
except PipelineError as exc:
    sys.exit(f"ERROR: {exc}")
target = root / "dvc.yaml"
if args.check:
    if not target.is_file() or target.read_text() != text:
        sys.exit("dvc.yaml is out of date: run `python workflow/scripts/gen_dvc.py` and commit it")
    print("dvc.yaml is up to date")
else:
    write_text(target, text)
    print(f"wrote {target}")
