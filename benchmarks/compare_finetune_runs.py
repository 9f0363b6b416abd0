"""Two evaluate_hallucination runs side by side (e.g. finetune.method full vs lora): quality and cost.

Both folders hold the run files of one `snakemake ... phase_evaluate_hallucination` each
(``results/evaluate_hallucination/runs/*.json``), made with the same held-out items (same
hallucination_samples and eavss outputs) and differing in one fine-tuning setting. Per fine-tuned
variant, task and metric it reports B minus A on the same items (each arm seed-averaged per item, one
paired bootstrap of the items shared by every comparison, as the phase's own report does) and calls
B "better" or "worse" only when the 95 % interval excludes 0. With ``--bench-a/--bench-b`` (the
``logs/finetune`` folders of the two runs: Snakemake benchmark files) it adds the fine-tuning CPU
seconds of both (job wall time at 1 thread) and their ratio.

    python benchmarks/compare_finetune_runs.py --a runs_full/ --b results/evaluate_hallucination/runs \\
        --label-a full --label-b lora --bench-a logs_full/finetune --bench-b logs/finetune \\
        --out results/bench/finetune_lora_vs_full.json

The base model's items must be identical in both (same model, same items): checked.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from avss.finetune.report import item_matrix, verdict  # noqa: E402
from pipeutil.bootstrap import diff_ci, weights  # noqa: E402


def load_runs(folder: Path) -> list[dict]:
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    if not runs:
        raise SystemExit(f"{folder}: no run files (*.json)")
    return runs


def job_seconds(folder: Path | None) -> dict | None:
    """Sums of wall seconds (column s) and cpu_time over the Snakemake benchmark files of a folder (one per job).

    The jobs run at 1 thread, so their wall time is their CPU time when the cores are not shared; the
    cpu_time column (sampled by Snakemake) under-counts short script jobs, so the ratio uses wall time."""
    if folder is None:
        return None
    files = sorted(folder.glob("*.tsv"))
    if not files:
        raise SystemExit(f"{folder}: no Snakemake benchmark files (*.tsv)")
    wall, cpu = {}, {}
    for f in files:
        with f.open() as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        wall[f.stem], cpu[f.stem] = float(row["s"]), float(row["cpu_time"])
    return {"jobs": len(wall), "wall_s": sum(wall.values()), "cpu_time_s": sum(cpu.values()), "wall_per_job": wall}


def compare(runs_a: list[dict], runs_b: list[dict], metrics: dict, n_boot: int, seed: int) -> list[dict]:
    def tuned(r):
        return r["variant"] != "base" and not r["variant"].startswith("dola_")  # DoLa runs the base model

    tagged = [r for r in runs_a if not r["variant"].startswith("dola_")] + \
        [{**r, "variant": f"{r['variant']}@b"} for r in runs_b if tuned(r)]
    base_b = [r for r in runs_b if r["variant"] == "base"]
    mat = item_matrix(tagged, metrics)
    mat_b = item_matrix(base_b, metrics) if base_b else None
    rows = []
    for (task, m), cell in mat.items():
        if mat_b is not None and not np.array_equal(mat_b[(task, m)]["arms"]["base"][None],
                                                    cell["arms"]["base"][None]):
            raise SystemExit(f"{task}/{m}: the base model's items differ between the two runs (not the same items)")
        n = int(sum(cell["n_per_fold"]))
        w = weights(n, n_boot, seed, stream=task, key="n_boot")
        mean = {a: np.mean(list(s.values()), axis=0) for a, s in cell["arms"].items()}
        for arm in cell["arms"]:
            if arm == "base" or arm.endswith("@b") or f"{arm}@b" not in mean:
                continue
            iv = diff_ci(mean[f"{arm}@b"], mean[arm], w)
            rows.append({"variant": arm, "task": task, "metric": m, "a": float(mean[arm].mean()),
                         "b": float(mean[f"{arm}@b"].mean()), "b_minus_a": iv.estimate, "ci": iv.to_dict(),
                         "verdict": {"improvement": "b better", "worse": "b worse"}.get(verdict(iv), "indistinguishable"),
                         "n": n})
    if not rows:
        raise SystemExit("no fine-tuned variant is in both runs")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, type=Path)
    ap.add_argument("--b", required=True, type=Path)
    ap.add_argument("--label-a", default="a")
    ap.add_argument("--label-b", default="b")
    ap.add_argument("--bench-a", type=Path)
    ap.add_argument("--bench-b", type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["evaluate_hallucination"]
    rows = compare(load_runs(args.a), load_runs(args.b), params["metrics"], params["bootstrap"]["n_boot"],
                   params["bootstrap"]["seed"])
    cost_a, cost_b = job_seconds(args.bench_a), job_seconds(args.bench_b)
    result = {"a": args.label_a, "b": args.label_b, "rows": rows, "finetune_cost": {args.label_a: cost_a, args.label_b: cost_b}}
    if cost_a and cost_b:
        result["finetune_wall_ratio_b_vs_a"] = cost_b["wall_s"] / cost_a["wall_s"]
    result["n_b_better"] = sum(r["verdict"] == "b better" for r in rows)
    result["n_b_worse"] = sum(r["verdict"] == "b worse" for r in rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.label_b} minus {args.label_a} (95 % paired bootstrap, {params['bootstrap']['n_boot']} resamples):")
    for r in rows:
        c = r["ci"]
        ci = "n/a" if c["low"] is None else f"[{c['low']:+.4f}, {c['high']:+.4f}]"
        print(f"  {r['variant']:<10} {r['task']:<12} {r['metric']:<8} {r['a']:.4f} -> {r['b']:.4f}  "
              f"{r['b_minus_a']:+.4f} {ci}  {r['verdict']}")
    if "finetune_wall_ratio_b_vs_a" in result:
        print(f"fine-tuning job seconds: {args.label_a} {cost_a['wall_s']:.0f}, {args.label_b} {cost_b['wall_s']:.0f} "
              f"(ratio {result['finetune_wall_ratio_b_vs_a']:.2f}, {cost_a['jobs']} / {cost_b['jobs']} jobs)")


if __name__ == "__main__":
    main()
