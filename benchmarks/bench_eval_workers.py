"""Dense evaluation on the pipeline's decision items, one batch at a time vs batches on worker threads.

The evaluate_pruning rule's dense model on its decision items (params.yaml ``evaluate_pruning.tasks``: each
task's ``limit`` / ``n_docs``, same seed and pool), evaluated task by task in one process with
``HFBackend(workers=1)`` (one batch at a time on all threads) and ``workers=--threads``
(``evaluate_pruning.batch_parallel: true``), alternating for --repeats rounds; seconds per task and
whether every metric is identical. Needs the download phase (model, datasets).

    python benchmarks/bench_eval_workers.py --out results/bench/eval_workers.json [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/bench/eval_workers.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import yaml

    from avss.evaluation.backends import HFBackend
    from avss.evaluation.runner import evaluate, load_tasks
    from avss.hf_io import load_pretrained

    model_dir = ROOT / "results/download/model"
    if not (model_dir / "config.json").is_file():
        raise SystemExit(f"{model_dir}: no model (run the download phase first)")
    p = yaml.safe_load((ROOT / "params.yaml").read_text())["evaluate_pruning"]
    spec = {k: {kk: vv for kk, vv in v.items() if kk not in ("sweep_limit", "sweep_n_docs")} for k, v in p["tasks"].items()}
    tasks = load_tasks(spec, ROOT / "results/download/datasets", int(p["seed"]), "evaluate_pruning.tasks")
    model, tok = load_pretrained(model_dir)
    torch.set_num_threads(a.threads)
    runs, metrics = [], {}
    for _ in range(a.repeats):
        for workers in (1, a.threads):
            backend = HFBackend(model, tok, batch_size=p["batch_size"], max_batch_tokens=p["max_batch_tokens"],
                                max_length=p["max_length"], progress=False, workers=workers)
            seconds = {}
            for task in tasks:
                start = time.perf_counter()
                res = evaluate(backend, [task])
                seconds[task.name] = round(time.perf_counter() - start, 2)
                metrics.setdefault(task.name, []).append(res[task.name].metrics)
            runs.append({"workers": workers, "seconds": seconds, "total_s": round(sum(seconds.values()), 2)})
            print(json.dumps(runs[-1]), flush=True)
    total = {w: [r["total_s"] for r in runs if r["workers"] == w] for w in (1, a.threads)}
    out = {"benchmark": "dense evaluation on the decision items: one batch at a time vs worker threads",
           "threads": a.threads, "items": {t.name: len(t.docs) for t in tasks}, "runs": runs,
           "ratio_workers_to_one_at_a_time": round(sum(total[a.threads]) / sum(total[1]), 3),
           "identical_metrics": all(m == ms[0] for ms in metrics.values() for m in ms),
           "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()}}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("ratio_workers_to_one_at_a_time", "identical_metrics")}))


if __name__ == "__main__":
    main()
