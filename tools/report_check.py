"""Open the Snakemake report and its HTML tables in headless Chromium: screenshots, and a check that
the page renders without docutils warnings and that every table page holds a table.

Usage (after a run; `make report-check` does both steps):
    snakemake --report report.html
    python tools/report_check.py report.html --out results/report_check

Writes <out>/report.png, <out>/tables/<phase>_<name>.png and <out>/report_check.json; exits 1 with
the problems listed when a check fails, 2 when Chromium is missing (Debian: apt-get install chromium).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

# what docutils and the report write into the page when a caption or a category name is malformed
WARNINGS = ("System Message", "Duplicate explicit target", "Unknown target name", "Unexpected indentation")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    print(f"no headless browser found (looked for {', '.join(BROWSERS)}); on Debian: apt-get install chromium",
          file=sys.stderr)
    sys.exit(2)


def chromium(exe: str, page: Path, *args: str) -> str:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--window-size=1400,1000", "--virtual-time-budget=15000", *args, page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def check_page(exe: str, page: Path, shot: Path, need: tuple[str, ...]) -> list[str]:
    shot.parent.mkdir(parents=True, exist_ok=True)
    dom = chromium(exe, page, "--dump-dom")
    chromium(exe, page, f"--screenshot={shot}")
    problems = [f"{page}: the page shows {w!r}" for w in WARNINGS if w in dom]
    if not any(n in dom for n in need):
        problems.append(f"{page}: none of {need} in the rendered page")
    if not shot.is_file() or shot.stat().st_size == 0:
        problems.append(f"{page}: no screenshot written")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", nargs="?", default="report.html", type=Path)
    ap.add_argument("--results", default=Path("results"), type=Path, help="results folder with */tables/*.html")
    ap.add_argument("--out", default=Path("results/report_check"), type=Path)
    args = ap.parse_args()
    if not args.report.is_file():
        sys.exit(f"{args.report}: no such report (run `snakemake --report {args.report}` first)")
    exe = browser()
    problems = check_page(exe, args.report, args.out / "report.png", ("Snakemake",))
    tables = sorted(args.results.glob("*/tables/*.html"))
    if not tables:
        problems.append(f"{args.results}: no */tables/*.html (the <phase>_views rules write them)")
    for table in tables:
        shot = args.out / "tables" / f"{table.parent.parent.name}_{table.stem}.png"
        # a CSV/TSV page must show a table; a Markdown page (a summary) may be prose only
        source = re.search(r'<meta name="source" content="([^"]*)"', table.read_text(errors="replace"))
        need = ("<p", "<table") if source and source.group(1).endswith(".md") else ("<table",)
        problems += check_page(exe, table, shot, need)
    summary = {"report": str(args.report), "tables": [str(t) for t in tables], "problems": problems}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report_check.json").write_text(json.dumps(summary, indent=2) + "\n")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    print(f"{len(tables)} table pages and the report checked in {exe}; screenshots in {args.out}; "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
