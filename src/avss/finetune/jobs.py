"""Which layers each fine-tuning variant trains, and one fine-tuning job per (variant, fold).

Variants (same steps, batches and loss for all; only the trainable layers differ):
- ``eavss``: the EAVSS top-k layers of the fold (scored on that fold's training questions);
- ``random``: k seeded random layers (a different draw per fold);
- ``avss_topk``: the k most important layers by AVSS (score phase, wiki calibration text);
- ``all_layers``: every decoder layer.
"""
from __future__ import annotations

import json
import logging
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


def plan_variants(eavss_scores: dict, avss_per_layer: list[float] | None, variants: list[str], k: int,
                  seed: int) -> dict:
    """{"n_layers", "k", "variants": {variant: {fold: [layers]}}} for every fold of the EAVSS scores."""
    n = int(eavss_scores["n_layers"])
    folds = sorted(eavss_scores["folds"], key=int)
    if not folds:
        raise PipelineError("finetune: the EAVSS scores contain no fold")
    if not 1 <= k <= n:
        raise PipelineError(f"eavss.top_k: k={k} but the model has {n} layers (need 1 <= k <= {n})")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or "eavss" not in variants:
        raise PipelineError(f"finetune.variants: {variants} must include 'eavss' and use only {list(VARIANTS)}")
    plan: dict[str, dict[str, list[int]]] = {}
    for v in variants:
        plan[v] = {}
        for f in folds:
            if v == "eavss":
                layers = sorted(eavss_scores["folds"][f]["selected"])
            elif v == "random":
                layers = sorted(random.Random(f"{seed}:random:{f}").sample(range(n), k))
            elif v == "avss_topk":
                if avss_per_layer is None or len(avss_per_layer) != n:
                    raise PipelineError(f"finetune: AVSS scores with {n} layers are needed for variant 'avss_topk'")
                layers = topk_select(avss_per_layer, k, "eavss.top_k")[1]
            else:
                layers = list(range(n))
            plan[v][f] = layers
    return {"n_layers": n, "k": k, "folds": [int(f) for f in folds], "variants": plan}


def finetune_job(model_dir: str, plan_json: str, variant: str, fold: int, item_paths: list[str],
                 cfg: FinetuneConfig, out_dir: str, state_dir: str) -> dict:
    """Fine-tune ``variant``'s layers on the training questions of ``fold`` (all other folds)."""
    plan = json.loads(Path(plan_json).read_text())
    try:
        layers = plan["variants"][variant][str(fold)]
    except KeyError as exc:
        raise PipelineError(f"{plan_json}: no layers for variant {variant!r} fold {fold}") from exc
    items = read_items(item_paths)
    train = [it for it in items if it.fold != fold]
    test = [it for it in items if it.fold == fold]
    if not test:
        raise PipelineError(f"finetune: fold {fold} has no questions (check hallucination_samples.folds)")
    check_disjoint({f"{it.dataset}/{it.qid}" for it in train}, {f"{it.dataset}/{it.qid}" for it in test},
                   f"finetune fold {fold}")
    questions = group_questions(train)
    log.info("variant %s fold %d: %d training questions, layers %s", variant, fold, len(questions), layers)
    return run_finetune(model_dir, questions, layers, out_dir, state_dir, cfg,
                        info={"variant": variant, "fold": fold})


def write_plan(eavss_json: str, avss_json: str | None, variants: list[str], k: int, seed: int, out_json: str,
               avss_method: str = "avss") -> dict:
    scores = json.loads(Path(eavss_json).read_text())
    avss = read_avss(avss_json, avss_method) if avss_json and "avss_topk" in variants else None
    plan = plan_variants(scores, avss, list(variants), int(k), int(seed))
    write_json(out_json, plan)
    return plan
