"""Calibrate a real camera from a chessboard video or a folder of photographs (outside the pipeline).

    python -m ball3d.calibration.cli --input board.mp4 --board 9x6 --square 0.025 --out cam0.json \
        [--name cam0] [--landmarks landmarks_px.json]

Writes a Camera file (ball3d.camera) with the estimated K and distortion. With ``--landmarks``
(``{cam_name: {landmark_name: [u, v]}}``, names from ``ball3d.pitch.landmarks()``) the pose
against the pitch is solved as well; otherwise R = I, t = 0 and meta says so.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import yaml

from ball3d.board import Board
from ball3d.camera import Camera
from ball3d.pitch import landmarks
from pipeutil.io import PipelineError

from .calibrate import calibrate_intrinsics, solve_extrinsics


def default_cfg() -> dict:
    """The calibrate section's defaults, without reading params.yaml (usable from any folder)."""
    return yaml.safe_load("""
        max_samples: 40
        detect_width: 1280
        blur_ratio: 0.5
        min_area_frac: 0.01
        min_shift_frac: 0.01
        min_views: 6
        outlier_factor: 3.0
        fix_k3: true
        zero_tangent: false
    """)


def run(args: argparse.Namespace) -> Camera:
    cols, rows = (int(v) for v in args.board.lower().split("x"))
    board = Board(cols, rows, args.square)
    intr = calibrate_intrinsics(args.input, board, default_cfg(), args.name)
    R, t, meta = np.eye(3), np.zeros(3), {"pose": "none (R = I, t = 0)"}
    if args.landmarks:
        clicks = json.loads(Path(args.landmarks).read_text()).get(args.name, {})
        lm = dict(zip(landmarks().names, landmarks().xyz))
        unknown = sorted(set(clicks) - set(lm))
        if unknown:
            raise PipelineError(f"{args.landmarks}: unknown landmark names {unknown}")
        names = sorted(clicks)
        R, t, rms = solve_extrinsics(intr.K, intr.dist, np.array([lm[n] for n in names]).reshape(-1, 3),
                                     np.array([clicks[n] for n in names]).reshape(-1, 2), args.name, 6)
        meta = {"pose": f"PnP on {len(names)} clicked landmarks", "pnp_rms_px": rms}
    cam = Camera(name=args.name, K=intr.K, dist=intr.dist, R=R, t=t, width=intr.width, height=intr.height,
                 meta={"source": f"calibrated from {args.input}", **intr.summary(), **meta})
    cam.save(args.out)
    return cam


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, help="chessboard video or folder of photographs")
    ap.add_argument("--board", default="9x6", help="inner corners, COLSxROWS")
    ap.add_argument("--square", type=float, required=True, help="square size, metres")
    ap.add_argument("--out", required=True, help="camera JSON to write")
    ap.add_argument("--name", default="cam0")
    ap.add_argument("--landmarks", help="landmarks_px.json for the pose against the pitch")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        cam = run(args)
    except PipelineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"K": cam.K.tolist(), "dist": cam.dist.tolist(), "rms_px": cam.meta["rms_px"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
