"""Which layers each fine-tuning variant trains, and one fine-tuning job per (variant, seed, fold).

Variants (same budget, batches and loss for all; only the trainable layers differ):
- ``eavss``: the EAVSS top-k layers of the fold (scored on that fold's training questions);
- ``random``: k seeded random layers (a different draw per seed and fold);
- ``avss_topk``: the k most important layers by AVSS (score phase, wiki calibration text);
- ``all_layers``: every decoder layer.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
from pathlib import Path

from avss.folds import check_disjoint
from avss.records import read_avss, read_items
from avss.stats import top_k as topk_select
from pipeutil.io import PipelineError, write_json

from .data import group_questions
from .train import FinetuneConfig, run_finetune

log = logging.getLogger(__name__)
VARIANTS = ("eavss", "random", "avss_topk", "all_layers")


def check_seeds(seeds, key: str = "finetune.seeds") -> list[int]:
    """``seeds`` as a non-empty list of distinct ints, else PipelineError naming ``key``."""
    if not isinstance(seeds, (list, tuple)) or not seeds or \
            any(isinstance(s, bool) or not isinstance(s, int) for s in seeds) or len(set(seeds)) != len(seeds):
        raise PipelineError(f"{key}: {seeds!r} must be a non-empty list of distinct integer seeds "
                            "(each fine-tuning run and the random-layers control are repeated per seed)")
    return [int(s) for s in seeds]


def plan_variants(eavss_scores: dict, avss_per_layer: list[float] | None, variants: list[str], k: int,
                  seeds: list[int]) -> dict:
    """{"n_layers", "k", "folds", "seeds", "variants": {variant: {seed: {fold: [layers]}}}} (str keys).

    Only ``random`` differs between seeds (a new draw per seed and fold); the other variants' layers are
    the same for every seed (the seed changes the batches and the LoRA initialisation).
    """
    seeds = check_seeds(seeds)
    n = int(eavss_scores["n_layers"])
    folds = sorted(eavss_scores["folds"], key=int)
    if not folds:
        raise PipelineError("finetune: the EAVSS scores contain no fold")
    if not 1 <= k <= n:
        raise PipelineError(f"eavss.top_k: k={k} but the model has {n} layers (need 1 <= k <= {n})")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or "eavss" not in variants:
        raise PipelineError(f"finetune.variants: {variants} must include 'eavss' and use only {list(VARIANTS)}")
    if "avss_topk" in variants and (avss_per_layer is None or len(avss_per_layer) != n):
        raise PipelineError(f"finetune: AVSS scores with {n} layers are needed for variant 'avss_topk'")
    plan: dict[str, dict[str, dict[str, list[int]]]] = {}
    for v in variants:
        plan[v] = {}
        for seed in seeds:
            per = plan[v][str(seed)] = {}
            for f in folds:
                if v == "eavss":
                    per[f] = sorted(eavss_scores["folds"][f]["selected"])
                elif v == "random":
                    per[f] = sorted(random.Random(f"{seed}:random:{f}").sample(range(n), k))
                elif v == "avss_topk":
                    per[f] = topk_select(avss_per_layer, k, "eavss.top_k")[1]
                else:
                    per[f] = list(range(n))
    return {"n_layers": n, "k": k, "folds": [int(f) for f in folds], "seeds": seeds, "variants": plan}


def steps_for(cfg: FinetuneConfig, n_questions: int) -> int:
    """Optimiser steps of a run: ``cfg.steps`` when set, else ceil(epochs x training questions / batch)."""
    if cfg.steps is not None:
        return int(cfg.steps)
    return max(1, math.ceil(cfg.epochs * n_questions / cfg.batch_questions))


def finetune_job(model_dir: str, plan_json: str, variant: str, seed: int, fold: int, item_paths: list[str],
                 cfg: FinetuneConfig, out_dir: str, state_dir: str) -> dict:
    """Fine-tune ``variant``'s layers on the training questions of ``fold`` (all other folds) with ``seed``."""
    plan = json.loads(Path(plan_json).read_text())
    try:
        layers = plan["variants"][variant][str(seed)][str(fold)]
    except KeyError as exc:
        raise PipelineError(f"{plan_json}: no layers for variant {variant!r} seed {seed} fold {fold}") from exc
    items = read_items(item_paths)
    train = [it for it in items if it.fold != fold]
    test = [it for it in items if it.fold == fold]
    if not test:
        raise PipelineError(f"finetune: fold {fold} has no questions (check hallucination_samples.folds)")
    check_disjoint({f"{it.dataset}/{it.qid}" for it in train}, {f"{it.dataset}/{it.qid}" for it in test},
                   f"finetune fold {fold}")
    questions = group_questions(train)
    steps = steps_for(cfg, len(questions))
    cfg = dataclasses.replace(cfg, seed=int(seed), steps=steps)
    epochs = steps * cfg.batch_questions / len(questions)
    log.info("variant %s seed %d fold %d: %d training questions, %d steps (%.2f epochs), layers %s", variant, seed,
             fold, len(questions), steps, epochs, layers)
    return run_finetune(model_dir, questions, layers, out_dir, state_dir, cfg,
                        info={"variant": variant, "seed": int(seed), "fold": fold, "epochs": epochs,
                              "n_train_questions": len(questions)})


def write_plan(eavss_json: str, avss_json: str | None, variants: list[str], k: int, seeds: list[int],
               out_json: str, avss_method: str = "avss") -> dict:
    scores = json.loads(Path(eavss_json).read_text())
    avss = read_avss(avss_json, avss_method) if avss_json and "avss_topk" in variants else None
    plan = plan_variants(scores, avss, list(variants), int(k), list(seeds))
    write_json(out_json, plan)
    return plan
