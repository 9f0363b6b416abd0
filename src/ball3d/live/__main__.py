"""Live multi-camera ball tracking from the command line.

    python -m ball3d.live --cameras <calibration folder> --checkpoint <model.pt> [--params params.yaml]
        [--out records.jsonl | -] [--pace fast|realtime] [--queue-frames 4] [--fps F] [--max-frames N]
        SOURCE...

SOURCE is ``<camera>=<spec>`` (spec: a video file, a device index, an RTSP/HTTP URL) or a video file
whose name is ``<camera>.<ext>``; ``<calibration folder>/<camera>.json`` must exist for each. One JSON
record per frame set goes to ``--out`` (``-`` = stdout, flushed per line, to follow a match; a file
is written atomically: it appears when the run closes, its last line the summary). Parameters
(pre-processing, detector, association, smoother) come from ``--params`` (default ./params.yaml,
else the built-in defaults of ball3d.params). Exit status: 0 when every source ended together (or
--max-frames was reached), 2 when a source stopped before the others (the summary says which),
130 on Ctrl-C, 1 on bad input (the message names the source or file).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from ball3d.params import SECTIONS
from pipeutil.io import PipelineError, atomic_path

from .run import run_live


def parse_sources(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for it in items:
        name, sep, spec = it.partition("=")
        if not sep:
            name, spec = Path(it).stem, it
        if not name or not spec:
            raise PipelineError(f"source {it!r}: expected <camera>=<spec> or a file named <camera>.<ext>")
        if name in out:
            raise PipelineError(f"source {it!r}: camera {name!r} given twice")
        out[name] = spec
    return out


def load_params(path: str | None) -> dict:
    """params.yaml sections the tracker reads; the models' defaults fill what the file does not give."""
    given = {}
    p = Path(path) if path else Path("params.yaml")
    if path or p.is_file():
        try:
            given = yaml.safe_load(p.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PipelineError(f"{p}: cannot read parameters ({exc})") from exc
    out = {}
    for k in ("preprocess", "train_detector", "detect", "bundle"):
        try:
            out[k] = SECTIONS[k].model_validate(given.get(k, {})).model_dump()
        except ValueError as exc:
            raise PipelineError(f"{p}: section {k}: {exc}") from exc
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ball3d.live", description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", required=True, help="folder with one <camera>.json per source")
    ap.add_argument("--checkpoint", required=True, help="heatmap detector checkpoint (input_source preprocess)")
    ap.add_argument("--params", default=None, help="params.yaml (default ./params.yaml if present)")
    ap.add_argument("--out", default="-", help="JSON lines output file, '-' = stdout")
    ap.add_argument("--pace", choices=("fast", "realtime"), default="fast",
                    help="files: as fast as possible (nothing dropped) or at their frame rate (drops when behind)")
    ap.add_argument("--queue-frames", type=int, default=4, help="frames buffered per source")
    ap.add_argument("--fps", type=float, default=None, help="frame rate every source must have")
    ap.add_argument("--max-frames", type=int, default=None, help="stop after this many frame sets")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of torch and the Numba kernels")
    ap.add_argument("sources", nargs="+", metavar="SOURCE")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        kw = dict(sources=parse_sources(a.sources), cameras_dir=a.cameras, checkpoint=a.checkpoint,
                  params=load_params(a.params), pace=a.pace, queue_frames=a.queue_frames, fps=a.fps,
                  max_frames=a.max_frames, threads=a.threads)
        if a.out == "-":
            res = run_live(emit=lambda r: print(json.dumps(r), flush=True), **kw)
        else:
            with atomic_path(a.out) as tmp, open(tmp, "w") as fh:
                res = run_live(emit=lambda r: fh.write(json.dumps(r) + "\n"), **kw)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    reason = res.summary["stop_reason"]
    return 0 if res.summary["complete"] else 130 if reason.startswith("interrupted") else 2


if __name__ == "__main__":
    sys.exit(main())
