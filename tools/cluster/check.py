"""Checks of tools/cluster/cluster_test.sh: SLURM job records of a run, and results of two runs.

  python tools/cluster/check.py jobs JOBCOMP_FILE SNAKEMAKE_LOG [SNAKEMAKE_LOG ...] --expected N
      Every Snakemake run (log) prints its SLURM run id (the sbatch job name). Counts the jobs of
      those runs in SLURM's job-completion file (JobCompType=jobcomp/filetxt) by state, and fails
      unless (a) the last run's jobs all COMPLETED, (b) earlier (interrupted) runs have only
      COMPLETED or CANCELLED jobs, (c) COMPLETED jobs of all runs add up to N (every job of the
      DAG ran through sbatch exactly once; a job cancelled by the interrupt after its own log says
      "steps (100%) done" counts as completed: its outputs are complete and the resumed run skips it) and (d) each run's log reports as many sbatch
      submissions as SLURM recorded for it. Prints a JSON summary.
  python tools/cluster/check.py results LOCAL_RESULTS SLURM_RESULTS
      The two results/ trees hold the same files with the same contents, except the fields listed
      in TIMING_KEYS (wall-clock measurements), the values of the files declared to hold timings
      (pipeutil.io.TIMING_FILES: same keys and lengths required, numbers free) and, only where
      calibrate/ itself differs, the float noise of the files computed from the cameras
      (CALIBRATION_DERIVED, see there).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from pipeutil.io import TIMING_FILES

# Keys whose values are wall-clock measurements (they differ between any two runs), as the rules write them:
# capture elapsed_s; evaluate_* and train_detector seconds, total_seconds, train_seconds (also inside
# model.pt's provenance); detect fps, association_ms_per_frame, camera_frames_per_s; bundle timing_s,
# fusion_ms_per_frame, update_ms_mean, update_ms_p95.
TIMING_KEYS = {"elapsed_s", "seconds", "total_seconds", "train_seconds", "fps", "association_ms_per_frame",
               "camera_frames_per_s", "timing_s", "fusion_ms_per_frame", "update_ms_mean", "update_ms_p95"}
# A file's recorded sha256 of another file: accepted when that file differs only in timing fields (or
# within the calibration tolerance).
HASH_OF = {("train_detector/training.json", "sha256"): "train_detector/model.pt"}
# Camera calibration is not bit-reproducible yet: two local runs of calibrate_scene on the same videos
# differ in the last digits of the fitted cameras (measured; OPENCV_FOR_THREADS_NUM=1 and one BLAS
# thread do not remove it). Only when calibrate/ differs between the two runs are the files computed
# from the cameras compared with a tolerance: floats within CALIBRATION_TOL (relative and absolute),
# everything else (keys, lengths, integers, strings) exactly; plots (PNG) of the same size with at most
# CALIBRATION_PIXELS of their pixels changed (a bar a fraction of a pixel higher).
CALIBRATION_DERIVED = re.compile(r"^(calibrate|preprocess|train_detector|detect|bundle|evaluate_vision)/")
CALIBRATION_TOL = 1e-3
CALIBRATION_PIXELS = 1e-3


def parse_jobcomp(path: Path) -> list[dict]:
    """One dict per line of a jobcomp/filetxt file ("Key=Value Key=Value ...")."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            rows.append(dict(kv.split("=", 1) for kv in line.split() if "=" in kv))
    return rows


def run_id(log: Path) -> str:
    m = re.search(r"SLURM run ID: (\S+)", log.read_text())
    if not m:
        raise SystemExit(f"check jobs: {log} has no 'SLURM run ID' line; was it run with --profile profiles/slurm?")
    return m.group(1)


def _finished(job_log: str | None) -> bool:
    """The job's own Snakemake log says its work is done."""
    try:
        return job_log is not None and "steps (100%) done" in Path(job_log).read_text(errors="replace")
    except OSError:
        return False


def check_jobs(jobcomp: Path, logs: list[Path], expected: int) -> dict:
    rows = parse_jobcomp(jobcomp)
    runs, errors = [], []
    finished_then_cancelled = 0
    for i, log in enumerate(logs):
        rid = run_id(log)
        states = Counter(r.get("JobState", "?") for r in rows if r.get("Name") == rid)
        text = log.read_text()
        submitted = len(re.findall(r"has been submitted with SLURM jobid", text))
        # A job whose work was done (its own log: "1 of 1 steps (100%) done") when the interrupt's scancel
        # reached it is recorded CANCELLED, yet its outputs are complete: the resumed run rightly skips it.
        job_logs = dict(re.findall(r"with SLURM jobid (\d+) \(log: ([^)]+)\)", text))
        done = [r for r in rows if r.get("Name") == rid and r.get("JobState") == "CANCELLED"
                and _finished(job_logs.get(r.get("JobId", "")))]
        finished_then_cancelled += len(done)
        runs.append({"log": str(log), "run_id": rid, "sbatch_submissions": submitted, "states": dict(states),
                     "cancelled_after_finishing": len(done)})
        allowed = {"COMPLETED"} if i == len(logs) - 1 else {"COMPLETED", "CANCELLED"}
        bad = {s: n for s, n in states.items() if s not in allowed}
        if bad:
            errors.append(f"run {rid} ({log.name}): jobs in states {bad}, expected only {sorted(allowed)}")
        if sum(states.values()) != submitted:
            errors.append(f"run {rid}: log reports {submitted} sbatch submissions, SLURM recorded {sum(states.values())}")
    completed = sum(r["states"].get("COMPLETED", 0) for r in runs)
    if completed + finished_then_cancelled != expected:
        errors.append(f"{completed} jobs COMPLETED through SLURM (+ {finished_then_cancelled} cancelled after "
                      f"finishing), expected {expected} (the jobs of the DAG)")
    summary = {"runs": runs, "completed": completed, "expected": expected,
               "sbatch_total": sum(r["sbatch_submissions"] for r in runs), "errors": errors}
    return summary


def _load(path: Path):
    """A results file as comparable values: JSON, the arrays of an .npz, a torch checkpoint; else bytes."""
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".pt":
        import torch  # only for checkpoints
        return torch.load(path, map_location="cpu", weights_only=True)
    return path.read_bytes()


def _close(a, b, path: str, where: str, tol: float | None, out: list[str]) -> None:
    """Append to ``out`` every difference between a and b, ignoring TIMING_KEYS (floats within tol if set)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            out.append(f"{path}: keys differ at {where or '/'}: {sorted(map(str, a.keys() ^ b.keys()))}")
            return
        for k in a:
            if k not in TIMING_KEYS:
                _close(a[k], b[k], path, f"{where}/{k}", tol, out)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            out.append(f"{path}: lengths differ at {where}: {len(a)} vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, path, f"{where}[{i}]", tol, out)
    elif hasattr(a, "shape") and hasattr(b, "shape"):  # numpy array or torch tensor
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape or x.dtype != y.dtype:
            out.append(f"{path}: {where}: shape/dtype {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
        elif np.array_equal(x, y):
            return
        elif tol is None or x.dtype.kind != "f" or not np.allclose(x, y, rtol=tol, atol=tol):
            out.append(f"{path}: {where}: arrays differ" + ("" if tol is None else f" beyond {tol}"))
    elif isinstance(a, float) and isinstance(b, (int, float)) and tol is not None:
        if not math.isclose(a, b, rel_tol=tol, abs_tol=tol):
            out.append(f"{path}: {where}: {a!r} vs {b!r} (beyond {tol})")
    elif a != b:
        out.append(f"{path}: {where}: {str(a)[:60]!r} vs {str(b)[:60]!r}" if where else f"{path}: bytes differ")


def is_timing_file(rel: str) -> bool:
    """A file (path relative to results/) that pipeutil.io.TIMING_FILES declares to hold timings."""
    return any(fnmatch.fnmatch(f"results/{rel}", pattern) for pattern in TIMING_FILES)


def _same_structure(a, b, path: str, where: str, out: list[str]) -> None:
    """Append to ``out`` where a and b differ in keys, lengths or types (values of a timing file are free)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            out.append(f"{path}: keys differ at {where or '/'}: {sorted(map(str, a.keys() ^ b.keys()))}")
            return
        for k in a:
            _same_structure(a[k], b[k], path, f"{where}/{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: lengths differ at {where}: {len(a)} vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _same_structure(x, y, path, f"{where}[{i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return
    elif a != b:
        out.append(f"{path}: {where}: {str(a)[:60]!r} vs {str(b)[:60]!r}")


def _close_png(a: Path, b: Path, rel: str, out: list[str]) -> None:
    """Two plots: same size, at most CALIBRATION_PIXELS of the pixels changed."""
    import matplotlib.image as mpimg  # only for plots

    x, y = mpimg.imread(a), mpimg.imread(b)
    if x.shape != y.shape:
        out.append(f"{rel}: image sizes differ: {x.shape} vs {y.shape}")
        return
    changed = float((np.abs(x - y).reshape(*x.shape[:2], -1).max(-1) > 0).mean())
    if changed > CALIBRATION_PIXELS:
        out.append(f"{rel}: {changed:.2%} of the pixels differ (beyond {CALIBRATION_PIXELS:.1%})")


def check_results(local: Path, slurm: Path) -> dict:
    files_a = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    files_b = {p.relative_to(slurm).as_posix() for p in slurm.rglob("*") if p.is_file()}
    errors = [f"only in the local run: {f}" for f in sorted(files_a - files_b)]
    errors += [f"only in the SLURM run: {f}" for f in sorted(files_b - files_a)]
    identical, timing_only, inexact, hashes = [], [], {}, []
    for rel in sorted(files_a & files_b):
        if (local / rel).read_bytes() == (slurm / rel).read_bytes():
            identical.append(rel)
            continue
        a, b = _load(local / rel), _load(slurm / rel)
        for (src, key), target in HASH_OF.items():  # judged by the file it hashes (below)
            if src == rel and isinstance(a, dict) and isinstance(b, dict) and a.get(key) != b.get(key):
                a, b = {**a, key: None}, {**b, key: None}
                hashes.append((rel, key, target))
        diffs: list[str] = []
        if is_timing_file(rel) and isinstance(a, dict) and isinstance(b, dict):
            _same_structure(a, b, rel, "", diffs)
        else:
            _close(a, b, rel, "", None, diffs)
        if diffs:
            inexact[rel] = (a, b, diffs)
        else:
            timing_only.append(rel)
    calibration_noise = any(rel.startswith("calibrate/") for rel in inexact)
    within_tol = []
    for rel, (a, b, diffs) in inexact.items():
        if calibration_noise and CALIBRATION_DERIVED.match(rel):
            loose: list[str] = []
            if rel.endswith(".png"):
                _close_png(local / rel, slurm / rel, rel, loose)
            else:
                _close(a, b, rel, "", CALIBRATION_TOL, loose)
            errors += loose
            within_tol += [] if loose else [rel]
        else:
            errors += diffs
    for rel, key, target in hashes:
        if target not in timing_only and target not in within_tol:
            errors.append(f"{rel}: /{key} differs and so does {target} (beyond timing fields and tolerance)")
    return {"files": len(files_a | files_b), "identical": len(identical), "timing_fields_only": timing_only,
            "calibration_differs": calibration_noise, "within_calibration_tolerance": within_tol,
            "errors": errors}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    j = sub.add_parser("jobs")
    j.add_argument("jobcomp", type=Path)
    j.add_argument("logs", type=Path, nargs="+")
    j.add_argument("--expected", type=int, required=True)
    r = sub.add_parser("results")
    r.add_argument("local", type=Path)
    r.add_argument("slurm", type=Path)
    args = ap.parse_args(argv)
    out = (check_jobs(args.jobcomp, args.logs, args.expected) if args.cmd == "jobs"
           else check_results(args.local, args.slurm))
    print(json.dumps(out, indent=1))
    for e in out["errors"][:20]:
        print(f"check {args.cmd}: {e}", file=sys.stderr)
    if len(out["errors"]) > 20:
        print(f"check {args.cmd}: ... {len(out['errors']) - 20} more differences", file=sys.stderr)
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
