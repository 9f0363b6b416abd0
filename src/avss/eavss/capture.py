"""Class-conditional activation statistics for EAVSS (the AVSS streaming capture, run twice).

For fold f, the truthful and the hallucinated items of the *training* questions (fold != f)
are captured separately with ``avss.capture.capture_stats``; evaluation questions are never
seen. Per-class variance and sparsity per layer then feed the pure functions of avss.eavss.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np
import torch

from avss.activations import CaptureConfig, capture_stats, load_capture, save_capture
from avss.hf_io import load_local
from avss.records import HallucItem, qa_text, read_avss, read_items
from avss.stats import HistSpec, LayerStats, fraction_below, layer_variance, quantile_threshold
from pipeutil.io import PipelineError, write_json

from .plots import plot_scores
from .samples import check_classes
from .scores import EavssConfig, score_layers

CLASSES = ("truthful", "hallucinated")


@dataclass(frozen=True)
class ClassCaptureConfig:
    """params.yaml: eavss (capture part)."""
    max_items_per_class: int = 96   # items per class per fold (seeded sample, same count for both classes)
    text: str = "qa"                # qa: "Question: q\nAnswer: a" | answer: the answer alone
    batch_size: int = 16
    max_length: int = 96            # tokens per item
    site: str = "block_output"
    seed: int = 0


def class_texts(items: list[HallucItem], fold: int, cfg: ClassCaptureConfig) -> dict[str, list[str]]:
    """Balanced, seeded texts of the training questions of ``fold`` for each class."""
    train = [it for it in items if it.fold != fold]
    if not train:
        raise PipelineError(f"eavss: fold {fold} leaves no training question (every item is in fold {fold})")
    check_classes(train, f"eavss fold {fold} training items")
    by_class = {"truthful": [it for it in train if it.truthful], "hallucinated": [it for it in train if not it.truthful]}
    n = min(cfg.max_items_per_class, *(len(v) for v in by_class.values()))
    rng = random.Random(f"{cfg.seed}:eavss:{fold}")
    out = {}
    for name, group in by_class.items():
        pick = rng.sample(group, n)
        out[name] = [qa_text(it.question, it.answer) if cfg.text == "qa" else it.answer for it in pick]
    return out


def capture_fold(model_dir: str, item_paths: list[str], fold: int, cfg: ClassCaptureConfig,
                 outs: dict[str, tuple[str, str]]) -> dict:
    """Capture both classes for ``fold``; ``outs[class] = (npz, json)``. Returns item counts."""
    if cfg.text not in ("qa", "answer"):
        raise PipelineError(f"eavss.text: {cfg.text!r} is not one of ['qa', 'answer']")
    texts = class_texts(read_items(item_paths), fold, cfg)
    model, tok = load_local(model_dir, dtype=torch.float32)
    model.eval()
    ccfg = CaptureConfig(site=cfg.site, pooling="all", batch_size=cfg.batch_size, max_length=cfg.max_length,
                         progress=False)
    for name in CLASSES:
        res = capture_stats(model, tok, texts[name], ccfg)
        save_capture(res, *outs[name], extra_meta={"class": name, "fold": fold, "items": len(texts[name]),
                                                   "eavss_capture": asdict(cfg)})
    return {name: len(t) for name, t in texts.items()}


def class_sparsity(lt: list[LayerStats], lh: list[LayerStats], spec: HistSpec, mode: str,
                   value: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparsity of each class per layer with ONE threshold per layer shared by both classes.

    mode quantile: t_l = value-quantile of |x| over both classes at layer l (default 0.1);
    relative: t_l = value * RMS of both classes at layer l; absolute: t_l = value.
    Returns (S_T [L], S_H [L], t [L]).
    """
    thr = []
    for a, b in zip(lt, lh):
        if mode == "quantile":
            if not 0.0 < value < 1.0:
                raise PipelineError(f"eavss.sparsity_value: quantile {value} is not in (0, 1)")
            thr.append(quantile_threshold(a.hist + b.hist, spec, value))
        elif mode == "relative":
            thr.append(value * float(np.sqrt((a.count * a.rms ** 2 + b.count * b.rms ** 2) / (a.count + b.count))))
        elif mode == "absolute":
            thr.append(float(value))
        else:
            raise PipelineError(f"eavss.sparsity_mode: {mode!r} is not one of ['quantile', 'relative', 'absolute']")
    st = np.array([fraction_below(a.hist, spec, t) for a, t in zip(lt, thr)])
    sh = np.array([fraction_below(b.hist, spec, t) for b, t in zip(lh, thr)])
    return st, sh, np.array(thr)


def score_fold(paths: dict[str, tuple[str, str]], cfg: EavssConfig, variance_axis: str, sparsity_mode: str,
               sparsity_value: float) -> dict:
    """EAVSS of one fold from its two capture files; includes the per-class inputs."""
    res = {name: load_capture(*paths[name]) for name in CLASSES}
    lt, lh = res["truthful"].layers, res["hallucinated"].layers
    if len(lt) != len(lh):
        raise PipelineError(f"eavss: {paths['truthful'][0]} has {len(lt)} layers, {paths['hallucinated'][0]} {len(lh)}")
    spec = HistSpec(**res["truthful"].meta["config"]["hist"])
    vt, vh = layer_variance(lt, variance_axis), layer_variance(lh, variance_axis)
    st, sh, thr = class_sparsity(lt, lh, spec, sparsity_mode, sparsity_value)
    scores = score_layers(vt, vh, st, sh, cfg)
    return {**asdict(scores), "variance_truthful": vt.tolist(), "variance_hallucinated": vh.tolist(),
            "sparsity_truthful": st.tolist(), "sparsity_hallucinated": sh.tolist(), "sparsity_threshold": thr.tolist(),
            "items": {name: res[name].meta.get("items") for name in CLASSES}}


def score_and_plot(capture_files: list[str], folds: list[int], cfg: EavssConfig, variance_axis: str,
                   sparsity_mode: str, sparsity_value: float, avss_json: str | None, avss_method: str,
                   out_json: str, out_png: str) -> dict:
    """Rule entry: scores.json of all folds and the per-layer plot (with AVSS's ranking beside it)."""
    paths = {}
    for f in folds:
        pick = {p.rsplit("/", 1)[-1]: p for p in capture_files if f"/fold{f}/" in p}
        try:
            paths[f] = {c: (pick[f"{c}.npz"], pick[f"{c}.json"]) for c in CLASSES}
        except KeyError as exc:
            raise PipelineError(f"eavss: capture file {exc} of fold {f} is missing") from exc
    avss = read_avss(avss_json, avss_method) if avss_json else None
    scores = {"config": {}, "folds": {}}
    scores["folds"] = {str(f): score_fold(p, cfg, variance_axis, sparsity_mode, sparsity_value)
                       for f, p in sorted(paths.items())}
    scores["n_layers"] = len(next(iter(scores["folds"].values()))["eavss"])
    scores["config"] = {**asdict(cfg), "variance_axis": variance_axis, "sparsity_mode": sparsity_mode,
                        "sparsity_value": sparsity_value}
    scores["avss_per_layer"] = avss
    plot_scores(scores, avss, cfg.top_k, out_png)
    write_json(out_json, scores)
    return scores
