"""Phases ``hallucination_samples`` and ``eavss``: the functions their rules call."""
from __future__ import annotations

from pipeutil.config import from_params

from .capture import ClassCaptureConfig, capture_fold, score_and_plot
from .samples import SamplesConfig, write_samples
from .scores import EavssConfig


def run_hallucination_samples(dataset: str, data_path: str, model_dir: str | None, cfg: dict, out_items: str,
                              out_summary: str, out_eval: list[str]) -> dict:
    """Rule hallucination_samples: labelled items of one dataset, its summary and one eval file per fold
    (``model_dir``: for nq_open / trivia_qa, whose hallucinated answers are the model's own)."""
    return write_samples(dataset, data_path, model_dir, from_params(SamplesConfig, cfg, "params.yaml: hallucination_samples"), out_items, out_summary, out_eval)


def run_eavss_capture(model_dir: str, item_paths: list[str], fold: int, cfg: dict,
                      outs: dict[str, tuple[str, str]]) -> dict:
    """Rule eavss_capture: statistics of the truthful and of the hallucinated items of ``fold``'s training
    questions (``outs``: class -> (npz, json)). Returns the item count per class."""
    return capture_fold(model_dir, item_paths, fold, from_params(ClassCaptureConfig, cfg, "params.yaml: eavss"), outs)


def run_eavss_scores(capture_files: list[str], folds: list[int], score: dict, variance_axis: str, sparsity_mode: str,
                     sparsity_value: float, avss_json: str | None, avss_method: str, out_json: str,
                     out_png: str) -> dict:
    """Rule eavss_scores: HSAV, HSS and EAVSS per layer and fold, top-k selection, the plot beside AVSS."""
    return score_and_plot(capture_files, folds, from_params(EavssConfig, score, "params.yaml: eavss"), variance_axis, sparsity_mode, sparsity_value,
                          avss_json, avss_method, out_json, out_png)
