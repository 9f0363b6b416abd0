"""tools/cluster/check.py, the verdicts of `make cluster-test`, on small trees and job records built here."""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "cluster"))

from check import check_jobs, check_results  # noqa: E402


def write_tree(root: Path, files: dict) -> Path:
    for rel, val in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(val, dict) and rel.endswith(".npz"):
            np.savez(path, **val)
        elif isinstance(val, (dict, list)):
            path.write_text(json.dumps(val))
        else:
            path.write_bytes(val)
    return root


BASE = {
    "capture/stats.json": {"layers": [1.5, 2.5], "elapsed_s": 3.2},
    "scenes/plots/frames.png": b"\x89PNG...",
    "calibrate/s/cam0.json": {"K": [[1000.0, 0.0], [0.0, 1000.0]], "camera": "cam0"},
    "preprocess/s/cam0.npz": {"frames": np.arange(12, dtype=np.uint8), "K_out": np.array([500.0, 250.0])},
    "bundle/s/heatmap.json": {"xyz": [[1.0, 2.0, 3.0]], "timing_s": {"graph_s": 0.5}, "n_fixed": 3},
}


def variant(**changes) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for rel, val in changes.items():
        out[rel.replace("__", "/").replace("_DOT_", ".")] = val
    return out


def test_identical_and_timing_only_trees_match(tmp_path):
    a = write_tree(tmp_path / "a", BASE)
    b = write_tree(tmp_path / "b", variant(capture__stats_DOT_json={"layers": [1.5, 2.5], "elapsed_s": 9.9}))
    out = check_results(a, b)
    assert out["errors"] == [] and out["timing_fields_only"] == ["capture/stats.json"] and out["identical"] == 4


def test_a_real_difference_is_reported(tmp_path):
    a = write_tree(tmp_path / "a", BASE)
    b = write_tree(tmp_path / "b", variant(capture__stats_DOT_json={"layers": [1.5, 2.6], "elapsed_s": 3.2},
                                           scenes__plots__frames_DOT_png=b"\x89PNG..!"))
    (b / "extra.json").write_text("{}")
    errors = check_results(a, b)["errors"]
    assert any("capture/stats.json: /layers[1]" in e for e in errors)
    assert any("frames.png: bytes differ" in e for e in errors) and "only in the SLURM run: extra.json" in errors


def test_calibration_noise_is_tolerated_only_where_calibration_differs(tmp_path):
    noisy_bundle = {"xyz": [[1.0 + 1e-9, 2.0, 3.0]], "timing_s": {"graph_s": 0.7}, "n_fixed": 3}
    noisy_prep = {"frames": np.arange(12, dtype=np.uint8), "K_out": np.array([500.0 + 1e-10, 250.0])}
    a = write_tree(tmp_path / "a", BASE)
    # calibrate/ differs in the last digits: files computed from the cameras may differ within the tolerance
    b = write_tree(tmp_path / "b", variant(
        calibrate__s__cam0_DOT_json={"K": [[1000.0 + 1e-7, 0.0], [0.0, 1000.0]], "camera": "cam0"},
        bundle__s__heatmap_DOT_json=noisy_bundle, preprocess__s__cam0_DOT_npz=noisy_prep))
    out = check_results(a, b)
    assert out["errors"] == [] and out["calibration_differs"]
    assert sorted(out["within_calibration_tolerance"]) == ["bundle/s/heatmap.json", "calibrate/s/cam0.json",
                                                           "preprocess/s/cam0.npz"]
    # the same downstream noise with identical calibration is an error
    c = write_tree(tmp_path / "c", variant(bundle__s__heatmap_DOT_json=noisy_bundle))
    assert any("bundle/s/heatmap.json" in e for e in check_results(a, c)["errors"])
    # and beyond the tolerance, or in an integer field, it is an error even with noisy calibration
    d = write_tree(tmp_path / "d", variant(
        calibrate__s__cam0_DOT_json={"K": [[1000.0 + 1e-7, 0.0], [0.0, 1000.0]], "camera": "cam0"},
        bundle__s__heatmap_DOT_json={"xyz": [[1.1, 2.0, 3.0]], "timing_s": {}, "n_fixed": 4}))
    errors = check_results(a, d)["errors"]
    assert any("/xyz[0][0]" in e for e in errors) and any("/n_fixed" in e for e in errors)


def test_job_records(tmp_path):
    def line(jobid, name, state):
        return f"JobId={jobid} UserId=root(0) Name={name} JobState={state} Partition=main\n"

    def log(name, rid, n):
        (tmp_path / name).write_text(f"SLURM run ID: {rid}\n" + "Job 1 has been submitted with SLURM jobid 9\n" * n)
        return tmp_path / name

    logs = [log("run1.log", "r1", 3), log("run2.log", "r2", 2)]
    comp = tmp_path / "jobcomp.txt"
    comp.write_text(line(1, "r1", "COMPLETED") + line(2, "r1", "CANCELLED") + line(3, "r1", "CANCELLED")
                    + line(4, "r2", "COMPLETED") + line(5, "r2", "COMPLETED") + line(6, "other", "FAILED"))
    out = check_jobs(comp, logs, expected=3)
    assert out["errors"] == [] and out["completed"] == 3 and out["sbatch_total"] == 5
    assert check_jobs(comp, logs, expected=4)["errors"]  # a job of the DAG never completed through SLURM
    comp.write_text(comp.read_text().replace("Name=r2 JobState=COMPLETED", "Name=r2 JobState=FAILED", 1))
    assert any("FAILED" in e for e in check_jobs(comp, logs, expected=2)["errors"])


def test_calibration_plots_may_differ_in_a_few_pixels_only(tmp_path):
    import matplotlib.image as mpimg

    img = np.zeros((100, 100, 3))
    a = write_tree(tmp_path / "a", BASE)
    b = write_tree(tmp_path / "b", variant(calibrate__s__cam0_DOT_json={"K": [[1000.0 + 1e-7, 0.0], [0.0, 1000.0]],
                                                                     "camera": "cam0"}))
    mpimg.imsave(a / "calibrate/errors.png", img)
    img[0, 0] = 1.0  # one pixel of 10^4
    mpimg.imsave(b / "calibrate/errors.png", img)
    assert check_results(a, b)["errors"] == []
    img[:50] = 1.0  # half of the plot
    mpimg.imsave(b / "calibrate/errors.png", img)
    assert any("calibrate/errors.png" in e for e in check_results(a, b)["errors"])


def test_a_recorded_hash_follows_the_file_it_hashes(tmp_path):
    import torch

    def tree(name, weight, seconds, sha):
        root = write_tree(tmp_path / name, {**BASE, "train_detector/training.json": {"sha256": sha, "f1": 0.9}})
        torch.save({"state_dict": {"w": torch.tensor([weight])}, "provenance": {"train_seconds": seconds}},
                   root / "train_detector/model.pt")
        return root

    a = tree("a", 1.0, 7.3, "aaa")
    assert check_results(a, tree("b", 1.0, 5.2, "bbb"))["errors"] == []  # checkpoints differ in a timing only
    errors = check_results(a, tree("c", 2.0, 5.2, "ccc"))["errors"]  # weights differ: both files are reported
    assert any("model.pt" in e and "/w" in e for e in errors) and any("training.json: /sha256" in e for e in errors)


def test_declared_timing_files_are_compared_by_structure_only(tmp_path):
    """pipeutil.io.TIMING_FILES (e.g. bundle/*/*/*.timing.json) hold wall-clock numbers under any key:
    the cluster run of the smoke DAG differed there in association_s, graph_robust_s, seconds_per_model."""
    timing = {"association_s": 0.028, "per_method": {"graph_robust_s": 0.011}, "methods": ["ransac"]}
    a = write_tree(tmp_path / "a", {**BASE, "bundle/test/s/heatmap.timing.json": timing})
    b = write_tree(tmp_path / "b", {**BASE, "bundle/test/s/heatmap.timing.json": {
        "association_s": 0.031, "per_method": {"graph_robust_s": 0.017}, "methods": ["ransac"]}})
    out = check_results(a, b)
    assert out["errors"] == [] and out["timing_fields_only"] == ["bundle/test/s/heatmap.timing.json"]
    c = write_tree(tmp_path / "c", {**BASE, "bundle/test/s/heatmap.timing.json": {
        "association_s": 0.031, "per_method": {}, "methods": ["dlt"]}})
    errors = check_results(a, c)["errors"]
    assert any("keys differ at /per_method" in e for e in errors) and any("/methods[0]" in e for e in errors)
    # the same key in a file that is not declared a timing file is a real difference
    d = write_tree(tmp_path / "d", {**BASE, "bundle/test/s/heatmap.json": {"association_s": 0.1}})
    e = write_tree(tmp_path / "e", {**BASE, "bundle/test/s/heatmap.json": {"association_s": 0.2}})
    assert any("heatmap.json: /association_s" in x for x in check_results(d, e)["errors"])


def test_a_job_cancelled_after_finishing_counts_once(tmp_path):
    """Measured in make cluster-test: the interrupt's scancel reached a job after its log said
    "1 of 1 steps (100%) done"; SLURM recorded it CANCELLED and the resumed run skipped it (outputs complete)."""
    def line(jobid, name, state):
        return f"JobId={jobid} UserId=root(0) Name={name} JobState={state} Partition=main\n"

    done, killed = tmp_path / "6.log", tmp_path / "7.log"
    done.write_text("Finished jobid: 0 (Rule: real_scene_video)\n1 of 1 steps (100%) done\n*** JOB 6 CANCELLED ***\n")
    killed.write_text("rule real_scene_video:\n*** JOB 7 CANCELLED ***\n")
    (tmp_path / "run1.log").write_text("SLURM run ID: r1\n"
                                       f"Job 1 has been submitted with SLURM jobid 5 (log: {tmp_path / '5.log'}).\n"
                                       f"Job 2 has been submitted with SLURM jobid 6 (log: {done}).\n"
                                       f"Job 3 has been submitted with SLURM jobid 7 (log: {killed}).\n")
    (tmp_path / "run2.log").write_text(f"SLURM run ID: r2\nJob 3 has been submitted with SLURM jobid 8 (log: {tmp_path / '8.log'}).\n")
    comp = tmp_path / "jobcomp.txt"
    comp.write_text(line(5, "r1", "COMPLETED") + line(6, "r1", "CANCELLED") + line(7, "r1", "CANCELLED")
                    + line(8, "r2", "COMPLETED"))
    logs = [tmp_path / "run1.log", tmp_path / "run2.log"]
    out = check_jobs(comp, logs, expected=3)
    assert out["errors"] == [] and out["completed"] == 2 and out["runs"][0]["cancelled_after_finishing"] == 1
    killed.write_text(done.read_text())  # a second finished-then-cancelled job would be counted twice: error
    assert check_jobs(comp, logs, expected=3)["errors"]
