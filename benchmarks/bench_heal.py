"""Cost of healing a pruned model, side by side in one run (docs/healing.md).

1. Linear patch: fitting time (the statistics pass over --calib-windows x --seq-len tokens + the solves) vs a
   plain forward pass over the same tokens and vs one evaluation of the pruned model (SciQ + wiki perplexity
   from --datasets; wiki perplexity on a synthetic text when that folder is missing).
2. Generation speed (greedy, KV cache, batch 1, best of --repeats, alternating): patched vs pruned
   (target: equal within noise; the patch only changes weight values).
3. Heal step: LoRA (peft, the pipeline's loss: LM + KL to the dense model) vs a full fine-tune of the pruned
   model on the same batches, each in its own process: median step time (wall and CPU) and peak RSS above the
   loaded models.

    python benchmarks/bench_heal.py --out results/bench/heal.json [--model DIR] [--ratio 0.25]
Without a downloaded model (results/download/model) it runs on a tiny random Llama (a check of the script).
"""
from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _layers(n_layers: int, ratio: float, scores: Path) -> list[int]:
    from bench_pruned_speed import pick_layers

    return [int(i) for i in pick_layers(n_layers, ratio, str(scores))[0]]


def _windows(tok, text: str, n: int, seq_len: int):
    from avss.activations import calibration_windows

    return calibration_windows(text, tok, n, seq_len, 0, (0.0, 0.5))  # [n, seq_len]


def _heal_proc(model_dir: str, layers: list[int], variant: str, windows, steps: int, threads: int, queue) -> None:
    import torch

    from avss.hf_io import load_local
    from avss.pruning.lora_heal import LoraHealConfig, heal_loss, step_batch
    from avss.surgery import prune_layers

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    windows = torch.tensor(windows, dtype=torch.long)  # [N, T] (sent as a list of lists)
    teacher, _ = load_local(model_dir, dtype=torch.float32)
    student = prune_layers(copy.deepcopy(teacher), layers)
    teacher.eval().requires_grad_(False)
    cfg = LoraHealConfig(batch_size=2)
    if variant == "lora":
        from peft import LoraConfig, get_peft_model

        student = get_peft_model(student, LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=0.0,
                                                     target_modules=list(cfg.target_modules)))
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    student.train()
    base = _rss_mb()
    times, cpu = [], []
    for step in range(steps + 1):  # step 0 is the warm-up
        ids = step_batch(windows, step, cfg.batch_size)
        t0, c0 = time.perf_counter(), time.process_time()
        loss, _, _ = heal_loss(student, teacher, ids, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"variant": variant, "trainable_parameters": sum(p.numel() for p in params),
               "step_seconds_median": statistics.median(times), "step_cpu_seconds_median": statistics.median(cpu),
               "step_seconds": times, "rss_after_load_mb": base, "peak_rss_mb": peak, "peak_over_load_mb": peak - base})


def heal_step(model_dir, layers, variant, windows, steps, threads) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_heal_proc, args=(model_dir, layers, variant, windows.tolist(), steps, threads, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def _eval_once(model, tok, layers, patches, datasets: Path, text: str) -> tuple[float, dict]:
    from avss.evaluation.backends import HFBackend
    from avss.evaluation.runner import evaluate, load_tasks
    from avss.pruning.patch import patched
    from avss.surgery import layers_removed

    if (datasets / "sciq.jsonl").is_file() and (datasets / "wiki.txt").is_file():
        spec, folder = {"sciq": {"limit": 20, "pool": [0.0, 0.5]}, "wiki": {"n_docs": 4, "words_per_doc": 192}}, datasets
    else:
        folder = Path(tempfile.mkdtemp(prefix="bench-heal-"))
        (folder / "wiki.txt").write_text(text)
        spec = {"wiki": {"n_docs": 4, "words_per_doc": 48}}
    tasks = load_tasks(spec, folder, 0)
    t0 = time.perf_counter()
    with patched(model, patches), layers_removed(model, layers) as pruned:
        evaluate(HFBackend(pruned, tok, batch_size=8, progress=False), tasks)
    return time.perf_counter() - t0, spec


def main() -> None:
    import torch
    from bench_pruned_speed import PROMPTS, gen_time

    from avss.hf_io import load_local
    from avss.pruning.patch import fit_patches, patched
    from avss.surgery import layers_removed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/bench/heal.json")
    ap.add_argument("--model", default=str(ROOT / "results" / "download" / "model"))
    ap.add_argument("--datasets", default=str(ROOT / "results" / "download" / "datasets"))
    ap.add_argument("--scores", default=str(ROOT / "results" / "score" / "scores.json"))
    ap.add_argument("--ratio", type=float, default=0.25)
    ap.add_argument("--calib-windows", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--ridge", type=float, default=1e-4)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--heal-steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model_dir, tiny = args.model, not (Path(args.model) / "config.json").is_file()
    if tiny:  # no downloaded model: a tiny random Llama checks the script
        from tiny_llm import CORPUS, make_tiny_llm

        model_dir = tempfile.mkdtemp(prefix="bench-heal-model-")
        make_tiny_llm(model_dir, n_layers=8, hidden=64)
        text = "\n".join(CORPUS * 200)
        args.calib_windows, args.seq_len = min(args.calib_windows, 16), min(args.seq_len, 64)
    else:
        text = (Path(args.datasets) / "wiki.txt").read_text(encoding="utf-8")
    model, tok = load_local(model_dir, dtype=torch.float32)
    model.eval()
    n_layers = model.config.num_hidden_layers
    layers = _layers(n_layers, args.ratio, Path(args.scores))
    windows = _windows(tok, text, args.calib_windows, args.seq_len)
    batches = [windows[i:i + 4] for i in range(0, windows.shape[0], 4)]
    t0 = time.perf_counter()
    patches = fit_patches(model, batches, layers, args.ridge)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for ids in batches:
            model(input_ids=ids, use_cache=False)
    forward_s = time.perf_counter() - t0
    eval_s, eval_spec = _eval_once(model, tok, layers, patches, Path(args.datasets), text)
    prompts = [tok(p, return_tensors="pt")["input_ids"] for p in PROMPTS]
    pruned_runs, patched_runs = [], []
    with layers_removed(model, layers) as small:
        gen_time(small, prompts[:1], 4)  # warm-up
    for _ in range(args.repeats):
        with layers_removed(model, layers) as small:
            pruned_runs.append(gen_time(small, prompts, args.new_tokens))
        with patched(model, patches), layers_removed(model, layers) as small:
            patched_runs.append(gen_time(small, prompts, args.new_tokens))
    pr, pa = min(pruned_runs), min(patched_runs)
    del model
    lora = heal_step(model_dir, layers, "lora", windows, args.heal_steps, args.threads)
    full = heal_step(model_dir, layers, "full", windows, args.heal_steps, args.threads)
    res = {"benchmark": "heal", "model": "tiny random Llama (script check)" if tiny else model_dir,
           "load_average": os.getloadavg(), "torch_threads": args.threads, "platform": platform.platform(),
           "n_layers": n_layers, "removed_layers": layers, "spans": [p.info() for p in patches],
           "calibration_tokens": int(windows.numel()),
           "patch_fit_seconds": fit_s, "plain_forward_seconds": forward_s, "one_evaluation_seconds": eval_s,
           "evaluation_spec": eval_spec, "patch_fit_over_forward": fit_s / forward_s,
           "patch_fit_over_evaluation": fit_s / eval_s,
           "pruned_tokens_per_s": pr[1] / pr[0], "patched_tokens_per_s": pa[1] / pa[0],
           "patched_over_pruned_speed": (pa[1] / pa[0]) / (pr[1] / pr[0]),
           "generation_runs": {"pruned": pruned_runs, "patched": patched_runs},
           "heal_lora": lora, "heal_full_finetune": full,
           "ratio_step_time": lora["step_seconds_median"] / full["step_seconds_median"],
           "ratio_step_cpu_time": lora["step_cpu_seconds_median"] / full["step_cpu_seconds_median"],
           "ratio_peak_memory_over_load": lora["peak_over_load_mb"] / max(full["peak_over_load_mb"], 1e-9),
           "ratio_trainable_parameters": lora["trainable_parameters"] / full["trainable_parameters"]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps({k: v for k, v in res.items() if not isinstance(v, (dict, list))}, indent=2))


if __name__ == "__main__":
    main()
