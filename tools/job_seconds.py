"""Per-rule job seconds of a Snakemake run, from the benchmark files logs/<rule>/*.tsv.

    python tools/job_seconds.py [--logs logs] [--since UNIX_SECONDS] [rule ...]

Prints, per rule, the job count, the range and the sum of the wall seconds (column s; the pipeline's
jobs run at 1 thread, so on free cores this is their CPU time) and the peak RSS, then the total.
--since keeps the files written after that time (one run's jobs). docs/eavss.md, "Runtime", uses it.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logs", type=Path, default=Path("logs"))
    ap.add_argument("--since", type=float, default=0.0)
    ap.add_argument("rules", nargs="*")
    args = ap.parse_args()
    if not args.logs.is_dir():
        raise SystemExit(f"{args.logs}: no such folder (the Snakemake logs of a run)")
    total = 0.0
    for folder in sorted(p for p in args.logs.iterdir() if p.is_dir()):
        if args.rules and folder.name not in args.rules:
            continue
        rows = []
        for f in folder.glob("*.tsv"):
            if f.stat().st_mtime < args.since:
                continue
            with f.open() as fh:
                r = next(csv.DictReader(fh, delimiter="\t"))
            rows.append((float(r["s"]), float(r["max_rss"])))
        if rows:
            s = [w for w, _ in rows]
            total += sum(s)
            print(f"{folder.name:32s} jobs {len(s):3d}  each {min(s):7.1f}-{max(s):7.1f} s  sum {sum(s):8.1f} s  "
                  f"peak RSS {max(m for _, m in rows) / 1024:.1f} GB")
    print(f"total job seconds {total:.1f}")


if __name__ == "__main__":
    main()
