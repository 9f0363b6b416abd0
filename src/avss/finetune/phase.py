"""Phases ``finetune`` and ``evaluate_hallucination``: the functions their rules call."""
from __future__ import annotations

from pipeutil.config import from_params

from .evaluate import evaluate_dola_run, evaluate_run, write_report
from .jobs import finetune_job, write_plan
from .train import FinetuneConfig


def run_finetune_plan(eavss_json: str, avss_json: str, variants: list[str], k: int, seeds: list[int],
                      out_plan: str, avss_method: str) -> dict:
    """Rule finetune_plan: the trainable layers of every variant, seed and fold."""
    return write_plan(eavss_json, avss_json, variants, k, seeds, out_plan, avss_method)


def run_finetune(model_dir: str, plan_json: str, variant: str, seed: int, fold: int, item_paths: list[str],
                 cfg: dict, out_dir: str, state_dir: str) -> dict:
    """Rule finetune: one variant's layers on one fold's training questions with one seed (resumable)."""
    return finetune_job(model_dir, plan_json, variant, seed, fold, item_paths,
                        from_params(FinetuneConfig, cfg, "params.yaml: finetune"), out_dir, state_dir)


def run_evaluate_hallucination_run(model_dir: str, base_dir: str, variant: str, fold: int, eval_dir: str,
                                   tasks: dict, out_json: str, seed: int, backend: dict,
                                   ft_seed: int | None = None) -> dict:
    """Rule evaluate_hallucination_run: one model (base or a fine-tuned variant and seed) on one fold's held-out rows."""
    return evaluate_run(model_dir, base_dir, variant, fold, eval_dir, tasks, out_json, seed, backend, ft_seed)


def run_evaluate_hallucination_dola(base_dir: str, bucket_name: str, dola: dict, fold: int, eval_dir: str,
                                    tasks: dict, eavss_json: str, out_json: str, seed: int, backend: dict) -> dict:
    """Rule evaluate_hallucination_dola: the base model decoding with DoLa over one bucket, on one fold."""
    return evaluate_dola_run(base_dir, bucket_name, dola["buckets"][bucket_name], dola["alpha"], fold, eval_dir,
                             tasks, eavss_json, out_json, seed, backend)


def run_evaluate_hallucination_report(run_jsons: list[str], metrics: dict, out_metrics: str, out_md: str,
                                      out_summary: str, out_png: str, bootstrap: dict) -> dict:
    """Rule evaluate_hallucination_report: metrics.json (DVC metrics), change table, plot, generated summary."""
    return write_report(run_jsons, metrics, out_metrics, out_md, out_summary, out_png,
                        bootstrap["n_boot"], bootstrap["seed"])
