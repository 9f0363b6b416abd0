"""Fine-tuning cost: selected layers (EAVSS top-k) vs all layers, LoRA vs full weights, packed vs one sequence per answer.

Six runs on the same batches: selected / all layers x full / LoRA (``finetune.method``), and the selected
and all layers with the batch unpacked (one causal sequence per (question, answer), what fine-tuning
did before each question's prompt was packed once with its answers as branches). The questions are the
real training items (``results/hallucination_samples/<dataset>.jsonl``, every dataset) when they
exist, else synthetic ones. Each runs in its own process (peak memory is per process): load the model, make the
variant's layers trainable, run ``--steps`` optimiser steps of the contrastive + LM loss on
identical batches (after one warm-up step), and record the median step time (wall and process
CPU time; the CPU time is robust on a shared machine) and the peak resident memory above the
loaded model. Writes all four and the ratios (selected / all with full weights, as before; LoRA / full
on the selected layers and on all layers) as JSON. The equal-quality half of "LoRA if it is faster at
equal quality" is measured by the pipeline (``finetune.method: lora``, then the report's intervals),
not here: a few steps on a shared machine say nothing about what training learns.

    python benchmarks/bench_finetune.py --out results/bench/finetune.json [--model DIR] [--layers 3,7,12,20]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _questions(n: int = 32):
    from avss.finetune.data import TrainQuestion, group_questions
    from avss.records import read_items

    real = sorted(str(p) for p in (ROOT / "results" / "hallucination_samples").glob("*.jsonl"))
    if real:
        qs = [q for q in group_questions(read_items(real)) if q.negatives]
        return random.Random(0).sample(qs, min(n, len(qs)))
    return [TrainQuestion(f"bench/{i}", f"Which number comes after {i} when counting upwards?",
                          (f"The number {i + 1} comes after {i}.",),
                          (f"The number {i + 7} comes after {i}.", f"Nothing comes after {i}.")) for i in range(n)]


def _run(model_dir: str, layers: list[int], steps: int, threads: int, method: str, pack: bool, queue) -> None:
    import torch

    from avss.finetune.data import batch_for_step, encode
    from avss.finetune.train import FinetuneConfig, set_trainable, train_step
    from avss.hf_io import load_local

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, tok = load_local(model_dir, dtype=torch.float32)
    cfg = FinetuneConfig(steps=steps, method=method)
    params = set_trainable(model, layers, cfg)
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    model.train()
    qs = _questions()
    base_rss = _rss_mb()
    times, cpu = [], []
    for step in range(steps + 1):  # step 0 is the warm-up
        enc = encode(tok, batch_for_step(qs, step, cfg.batch_questions, cfg.max_negatives, cfg.seed), cfg.max_length,
                     pack=pack)
        start, cstart = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        train_step(model, enc, layers, cfg)
        opt.step()
        if step:
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cstart)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"layers": layers, "method": method, "packed": pack, "questions": len(qs),
               "trainable_parameters": sum(p.numel() for p in params),
               "step_seconds_median": statistics.median(times), "step_seconds": times,
               "step_cpu_seconds_median": statistics.median(cpu),
               "rss_after_load_mb": base_rss, "peak_rss_mb": peak, "peak_over_load_mb": peak - base_rss})


def measure(model_dir: str, layers: list[int], steps: int, threads: int, method: str = "full",
            pack: bool = True) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(model_dir, layers, steps, threads, method, pack, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def _default_layers(model_dir: str, n_layers: int, k: int) -> list[int]:
    scores = ROOT / "results" / "eavss" / "scores.json"
    if scores.is_file():
        folds = json.loads(scores.read_text())["folds"]
        sel = next(iter(folds.values()))["selected"]
        if max(sel) < n_layers:
            return sel
    mid = n_layers // 2
    return list(range(mid, min(n_layers, mid + k)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default=str(ROOT / "results" / "download" / "model"))
    ap.add_argument("--layers", default=None, help="comma-separated selected layers (default: EAVSS fold 0)")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    model_dir = args.model
    if not (Path(model_dir) / "config.json").is_file():  # no downloaded model: a tiny random one
        from tiny_llm import make_tiny_llm

        model_dir = tempfile.mkdtemp(prefix="bench-ft-")
        make_tiny_llm(model_dir, n_layers=8)
    n_layers = json.loads((Path(model_dir) / "config.json").read_text())["num_hidden_layers"]
    layers = [int(x) for x in args.layers.split(",")] if args.layers else _default_layers(model_dir, n_layers, args.k)
    sel = measure(model_dir, layers, args.steps, args.threads)
    full = measure(model_dir, list(range(n_layers)), args.steps, args.threads)
    sel_lora = measure(model_dir, layers, args.steps, args.threads, "lora")
    full_lora = measure(model_dir, list(range(n_layers)), args.steps, args.threads, "lora")
    sel_unpacked = measure(model_dir, layers, args.steps, args.threads, pack=False)
    full_unpacked = measure(model_dir, list(range(n_layers)), args.steps, args.threads, pack=False)
    result = {"model": model_dir, "n_layers": n_layers, "steps": args.steps, "threads": args.threads,
              "selected": sel, "all_layers": full, "selected_lora": sel_lora, "all_layers_lora": full_lora,
              "selected_unpacked": sel_unpacked, "all_layers_unpacked": full_unpacked,
              "ratio_packed_vs_unpacked_step_cpu_time_selected":
                  sel["step_cpu_seconds_median"] / sel_unpacked["step_cpu_seconds_median"],
              "ratio_packed_vs_unpacked_step_cpu_time_all_layers":
                  full["step_cpu_seconds_median"] / full_unpacked["step_cpu_seconds_median"],
              "ratio_lora_vs_full_step_cpu_time_selected": sel_lora["step_cpu_seconds_median"] / sel["step_cpu_seconds_median"],
              "ratio_lora_vs_full_step_cpu_time_all_layers": full_lora["step_cpu_seconds_median"] / full["step_cpu_seconds_median"],
              "ratio_lora_vs_full_peak_memory_selected": sel_lora["peak_over_load_mb"] / max(sel["peak_over_load_mb"], 1e-9),
              "ratio_step_time": sel["step_seconds_median"] / full["step_seconds_median"],
              "ratio_step_cpu_time": sel["step_cpu_seconds_median"] / full["step_cpu_seconds_median"],
              "ratio_peak_memory_over_load": sel["peak_over_load_mb"] / max(full["peak_over_load_mb"], 1e-9),
              "ratio_trainable_parameters": sel["trainable_parameters"] / full["trainable_parameters"]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k.startswith("ratio")}, indent=2))


if __name__ == "__main__":
    main()
