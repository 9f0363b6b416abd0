"""Benchmark of the pruned model's generation speed, side by side in one run.

Greedy generation with the KV cache (--new-tokens per prompt, same prompts, batch 1) of the dense
model vs the same model with 25 % of its layers removed in memory (``avss.prune.layers_removed``;
the saved folder is the same architecture). Layers: the AVSS selection at 0.25 from
results/score/scores.json when it exists, else evenly spaced interior layers (speed does not
depend on which layers go). Best of --repeats, alternating dense and pruned. Target >= 1.2x.

    python benchmarks/bench_pruned_speed.py --out results/bench/pruned_speed.json [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from avss.pruning.prune import greedy, layers_removed
from avss.pruning.scores import n_to_remove

PROMPTS = ["The capital of France is", "Photosynthesis is the process by which",
           "In 1969, the first humans to walk on the Moon", "The main ingredients of bread are"]


def pick_layers(n_layers: int, ratio: float, scores: str) -> tuple[list[int], str]:
    key = f"{ratio:g}"
    if Path(scores).is_file():
        sel = json.loads(Path(scores).read_text()).get("avss", {}).get("selected", {}).get(key)
        if sel:
            return sel, f"avss selection at {key} from {scores}"
    k = n_to_remove(n_layers, ratio)
    return sorted({int(x) for x in np.linspace(1, n_layers - 2, k).round()}), "evenly spaced interior layers"


def gen_time(model, prompts: list[torch.Tensor], new_tokens: int) -> tuple[float, int]:
    t0, n = time.perf_counter(), 0
    for ids in prompts:
        out = greedy(model, ids, new_tokens, use_cache=True)
        n += out.shape[1] - ids.shape[1]
    if next(model.parameters()).is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, n


def main() -> None:
    import bench_capture  # same folder: model loading shared with the capture benchmark

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/bench/pruned_speed.json")
    ap.add_argument("--model", default=None)
    ap.add_argument("--scores", default="results/score/scores.json")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--ratio", type=float, default=0.25)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, name = bench_capture.load(args.model, args.device)
    from avss.hf_io import load_tokenizer
    tok_dir = args.model or bench_capture.DEFAULT_MODEL
    if Path(tok_dir, "tokenizer.json").is_file():
        tok = load_tokenizer(tok_dir)
        prompts = [tok(p, return_tensors="pt")["input_ids"].to(args.device) for p in PROMPTS]
    else:
        prompts = [torch.randint(0, model.config.vocab_size, (1, 8)).to(args.device) for _ in PROMPTS]
    n_layers = model.config.num_hidden_layers
    layers, origin = pick_layers(n_layers, args.ratio, args.scores)
    gen_time(model, prompts[:1], 4)  # warm-up
    dense, pruned = [], []
    for _ in range(args.repeats):
        dense.append(gen_time(model, prompts, args.new_tokens))
        with layers_removed(model, layers) as small:
            pruned.append(gen_time(small, prompts, args.new_tokens))
    d, p = min(dense), min(pruned)
    res = {"benchmark": "pruned_speed", "model": name, "device": args.device, "load_average": os.getloadavg(),
           "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
           "n_layers": n_layers, "removed_layers": layers, "layers_from": origin,
           "new_tokens_per_prompt": args.new_tokens, "prompts": len(prompts),
           "dense_tokens_per_s": d[1] / d[0], "pruned_tokens_per_s": p[1] / p[0],
           "speedup": (p[1] / p[0]) / (d[1] / d[0]), "target_speedup": 1.2,
           "all_runs": {"dense": dense, "pruned": pruned}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "all_runs"}, indent=2))


if __name__ == "__main__":
    main()
