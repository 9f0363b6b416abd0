"""Benchmark of the activation capture, side by side in one run.

1. Overhead: the hooked statistics pass (``capture_token_batches``) vs the plain no-grad forward
   of the same model over the same batches (same call: ``logits_to_keep=1``, no KV cache).
   Best of --repeats, alternating the two; wall and CPU (process) seconds. Target <= 1.10x.
2. Peak memory: the capture over ~1k vs ~20k calibration tokens (same batch size), each in a
   fresh child process; peak RSS (CPU) or max CUDA memory allocated. Target: flat (within 10 %).

The model is results/download/model when it exists (else --model, else a randomly initialised
model of the SmolLM2-135M shape: same compute, no download needed).

    python benchmarks/bench_capture.py --out results/bench/capture.json [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from avss.activations import CaptureConfig, _forward, capture_token_batches, window_batches

DEFAULT_MODEL = "results/download/model"


def load(model: str | None, device: str):
    """The benchmark model: a local HF folder, or a random SmolLM2-135M-shaped Llama."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from avss.hf_io import load_model

    path = model or (DEFAULT_MODEL if Path(DEFAULT_MODEL, "config.json").is_file() else None)
    if path:
        m = load_model(path, dtype="auto")
    else:
        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                          num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
        m = AutoModelForCausalLM.from_config(cfg)
    return m.to(device).eval(), path or "random SmolLM2-135M-shaped Llama"


def windows(n_tokens: int, seq_len: int, vocab: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (max(1, n_tokens // seq_len), seq_len), generator=g)  # [N, T]


def _time(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def overhead(model, args) -> dict:
    ids = windows(args.tokens, args.seq_len, model.config.vocab_size).to(args.device)
    cfg = CaptureConfig(batch_size=args.batch_size, progress=False)

    def plain():
        with torch.inference_mode():
            for b, m in window_batches(ids, args.batch_size):
                _forward(model, b, m)
        _sync(args.device)

    def hooked():
        capture_token_batches(model, window_batches(ids, args.batch_size), cfg)
        _sync(args.device)

    plain()  # warm-up
    runs = {"plain": [], "capture": []}
    for _ in range(args.repeats):
        runs["plain"].append(_time(plain))
        runs["capture"].append(_time(hooked))
    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in runs.items()}
    return {"tokens": int(ids.numel()), "batch_size": args.batch_size, "repeats": args.repeats,
            "plain_wall_s": best["plain"][0], "capture_wall_s": best["capture"][0],
            "plain_cpu_s": best["plain"][1], "capture_cpu_s": best["capture"][1],
            "ratio_wall": best["capture"][0] / best["plain"][0], "ratio_cpu": best["capture"][1] / best["plain"][1],
            "target_ratio": 1.10, "all_runs": runs}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def child(args) -> None:
    """One capture over --child-tokens tokens; prints its peak memory as JSON."""
    model, _ = load(args.model, args.device)
    with torch.inference_mode():  # warm-up: one plain batch, so one-off allocations precede the reset
        _forward(model, *next(window_batches(windows(args.batch_size * args.seq_len, args.seq_len, 100),
                                             args.batch_size)))
    ids = windows(args.child_tokens, args.seq_len, model.config.vocab_size)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak RSS (VmHWM) to the current RSS
        before = _status_mib("VmRSS")
    t0 = time.perf_counter()
    capture_token_batches(model, window_batches(ids, args.batch_size),
                          CaptureConfig(batch_size=args.batch_size, progress=False))
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _status_mib("VmHWM")
    print(json.dumps({"tokens": int(ids.numel()), "peak_mib": peak, "before_mib": before,
                      "increment_mib": peak - before, "seconds": time.perf_counter() - t0}))


def _status_mib(key: str) -> float:
    """A memory line of /proc/self/status (kB) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def memory(args) -> dict:
    out = {}
    for n in (args.mem_small, args.mem_large):
        cmd = [sys.executable, __file__, "--child-tokens", str(n), "--seq-len", str(args.seq_len),
               "--batch-size", str(args.batch_size), "--device", args.device, "--threads", str(args.threads)] + (["--model", args.model] if args.model else [])
        res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ.copy())
        out[str(n)] = json.loads(res.stdout.strip().splitlines()[-1])
    small, large = out[str(args.mem_small)], out[str(args.mem_large)]
    return {"runs": out, "peak_ratio_large_vs_small": large["peak_mib"] / small["peak_mib"],
            "increment_ratio_large_vs_small": large["increment_mib"] / max(small["increment_mib"], 1e-9),
            "kind": "max CUDA allocated" if args.device.startswith("cuda") else "peak RSS of the process",
            "target": "flat within 10 % (ratio <= 1.10)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/bench/capture.json")
    ap.add_argument("--model", default=None, help="local HF folder (default: results/download/model or random)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tokens", type=int, default=2048, help="tokens of the overhead comparison")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mem-small", type=int, default=1024)
    ap.add_argument("--mem-large", type=int, default=20480)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--child-tokens", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child_tokens is not None:
        return child(args)
    model, name = load(args.model, args.device)
    res = {"benchmark": "capture", "model": name, "device": args.device, "torch_threads": torch.get_num_threads(),
           "load_average": os.getloadavg(), "platform": platform.platform(), "overhead": overhead(model, args)}
    del model
    if not args.skip_memory:
        res["memory"] = memory(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps({k: v for k, v in res["overhead"].items() if k != "all_runs"}, indent=2))
    if "memory" in res:
        print("memory ratio", res["memory"]["peak_ratio_large_vs_small"])


if __name__ == "__main__":
    main()
