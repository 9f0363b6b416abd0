"""Short LoRA heal of a pruned (or patched) model with peft: LM loss on calibration windows, optionally a
distillation term (KL to the dense model's logits); seeded, resumable from a safetensors state, merged.

Why peft and not the hand-written adapters of ``avss.finetune.lora``: the finetune adapters serve the
layer-selective contrastive fine-tune (trainable layers chosen per run, merged by that phase); the heal only
needs standard LoRA on named modules of every kept layer, which peft implements, tests and merges
(``merge_and_unload``) for every Hugging Face family, and stage packages may not import each other
(ARCHITECTURE.md). Docs: docs/healing.md.

Loss per step on a batch [B, T] of windows: ``(1 - distill) * LM + distill * tau^2 * KL(p_dense || p_student)``
(both at temperature ``tau``, mean over tokens). Batches cycle through the windows in order, so a step's data
depends only on its index; with no dropout the run is deterministic and a resumed run equals an
uninterrupted one (the state holds the adapter weights, AdamW's moments and the step).
"""
from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file

from pipeutil.io import PipelineError

log = logging.getLogger(__name__)
STATE_FILE = "state.safetensors"  # adapter weights + optimiser moments (tensors only; no pickle)
META_FILE = "state.json"  # step, configuration, losses


@dataclass(frozen=True)
class LoraHealConfig:
    tokens: int = 4096  # training tokens in all (>= 1): steps = ceil(tokens / (batch_size x seq_len))
    batch_size: int = 4  # windows per optimiser step
    rank: int = 8
    alpha: float = 16.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    lr: float = 2e-4
    weight_decay: float = 0.0
    distill: float = 0.5  # weight of the KL term (0 = LM loss only; needs the dense teacher)
    temperature: float = 1.0
    seed: int = 0
    save_every: int = 4  # optimiser steps between resume states (0 = never)

    def steps(self, seq_len: int) -> int:
        return math.ceil(self.tokens / (self.batch_size * seq_len))


def check_config(cfg: LoraHealConfig, where: str = "evaluate_pruning.heal.lora") -> None:
    if cfg.tokens < 1:
        raise PipelineError(f"{where}.tokens: a token budget of {cfg.tokens} trains nothing (expected >= 1)")
    if not 0 <= cfg.distill <= 1:
        raise PipelineError(f"{where}.distill: {cfg.distill} is outside [0, 1]")
    if cfg.rank < 1 or cfg.batch_size < 1 or not cfg.target_modules:
        raise PipelineError(f"{where}: rank and batch_size must be >= 1 and target_modules non-empty")


def step_batch(windows: torch.Tensor, step: int, batch_size: int) -> torch.Tensor:
    n = windows.shape[0]
    rows = [(step * batch_size + k) % n for k in range(batch_size)]
    return windows[rows]  # [B, T]


def heal_loss(student, teacher, ids: torch.Tensor, cfg: LoraHealConfig) -> tuple[torch.Tensor, float, float]:
    logits = student(input_ids=ids, use_cache=False).logits[:, :-1].float()  # [B, T-1, V]
    lm = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    if cfg.distill == 0 or teacher is None:
        return lm, float(lm.detach()), 0.0
    with torch.no_grad():
        t = teacher(input_ids=ids, use_cache=False).logits[:, :-1].float()  # [B, T-1, V]
    tau = cfg.temperature
    kl = F.kl_div(F.log_softmax(logits / tau, -1).reshape(-1, logits.shape[-1]),
                  F.log_softmax(t / tau, -1).reshape(-1, logits.shape[-1]), log_target=True,
                  reduction="batchmean") * tau ** 2
    return (1 - cfg.distill) * lm + cfg.distill * kl, float(lm.detach()), float(kl.detach())


def _trainable(model) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _save(state_dir: Path, params, opt, meta: dict) -> None:
    tensors = {}
    for name, p in params:
        tensors[f"w.{name}"] = p.detach().cpu().contiguous()
        st = opt.state.get(p, {})
        for k in ("exp_avg", "exp_avg_sq"):
            if k in st:
                tensors[f"{k}.{name}"] = st[k].detach().cpu().contiguous()
        if "step" in st:
            tensors[f"step.{name}"] = torch.as_tensor(st["step"], dtype=torch.float64).reshape(1).cpu()
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / (STATE_FILE + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(state_dir / STATE_FILE)
    (state_dir / (META_FILE + ".tmp")).write_text(json.dumps(meta, indent=1) + "\n")
    (state_dir / (META_FILE + ".tmp")).replace(state_dir / META_FILE)


def _resume(state_dir: Path | None, params, opt, key: dict) -> tuple[int, list]:
    """The step and loss history of a matching state in ``state_dir`` (0, [] when there is none)."""
    if state_dir is None or not (state_dir / META_FILE).is_file() or not (state_dir / STATE_FILE).is_file():
        return 0, []
    meta = json.loads((state_dir / META_FILE).read_text())
    if meta.get("key") != key:
        log.warning("%s: the resume state has another configuration; starting from step 0", state_dir)
        return 0, []
    try:
        tensors = load_file(str(state_dir / STATE_FILE))
    except Exception as exc:  # safetensors raises its own error types on a damaged file
        raise PipelineError(f"{state_dir / STATE_FILE}: unreadable resume state ({exc}); delete the folder") from exc
    with torch.no_grad():
        for name, p in params:
            if f"w.{name}" not in tensors:
                raise PipelineError(f"{state_dir}: the resume state does not match the adapters ({name} missing)")
            p.copy_(tensors[f"w.{name}"].to(p.device, p.dtype))
            if f"exp_avg.{name}" in tensors:
                opt.state[p] = {"step": torch.tensor(float(tensors[f"step.{name}"][0])),
                                "exp_avg": tensors[f"exp_avg.{name}"].to(p.device),
                                "exp_avg_sq": tensors[f"exp_avg_sq.{name}"].to(p.device)}
    log.info("%s: resuming at step %d", state_dir, meta["step"])
    return int(meta["step"]), list(meta.get("history", []))


def lora_heal(student, windows: torch.Tensor, cfg: LoraHealConfig, teacher=None,
              state_dir: str | Path | None = None, max_steps: int | None = None, key: dict | None = None):
    """Train LoRA adapters on ``student`` (modified: pass a copy) over ``windows`` [N, T]; return the merged
    plain model and a record {steps, history}. ``max_steps`` stops early (tests of the resume); the state in
    ``state_dir`` is removed once the run is complete."""
    check_config(cfg)
    if windows.ndim != 2 or windows.shape[0] == 0:
        raise PipelineError("evaluate_pruning.heal.lora: no training windows")
    steps = cfg.steps(int(windows.shape[1]))
    torch.manual_seed(cfg.seed)  # LoRA A initialisation
    peft_cfg = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, target_modules=list(cfg.target_modules),
                          lora_dropout=0.0, bias="none")
    try:
        model = get_peft_model(student, peft_cfg)
    except ValueError as exc:
        raise PipelineError(f"evaluate_pruning.heal.lora.target_modules: {list(cfg.target_modules)} ({exc})") from exc
    params = _trainable(model)
    opt = torch.optim.AdamW([p for _, p in params], lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = Path(state_dir) if state_dir is not None else None
    run_key = {"cfg": asdict(cfg), "windows": list(windows.shape), **(key or {})}
    run_key["cfg"]["target_modules"] = list(cfg.target_modules)
    start, history = _resume(state, params, opt, run_key)
    model.train()
    stop = steps if max_steps is None else min(steps, max_steps)
    for step in range(start, stop):
        loss, lm, kl = heal_loss(model, teacher, step_batch(windows, step, cfg.batch_size).to(next(model.parameters()).device), cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"step": step + 1, "loss": round(float(loss.detach()), 6), "lm": round(lm, 6), "kl": round(kl, 6)})
        if state is not None and cfg.save_every and ((step + 1) % cfg.save_every == 0 or step + 1 == stop):
            _save(state, params, opt, {"key": run_key, "step": step + 1, "history": history})
    model.eval()
    merged = model.merge_and_unload()
    if state is not None and stop == steps and state.exists():
        shutil.rmtree(state)
    return merged, {"steps": steps, "done": stop, "tokens": steps * cfg.batch_size * int(windows.shape[1]),
                    "history": history}


def heal_config(p: dict) -> LoraHealConfig:
    """LoraHealConfig from the ``evaluate_pruning.heal.lora`` section (other keys ignored)."""
    kw = {k: p[k] for k in LoraHealConfig.__dataclass_fields__ if k in p}
    if "target_modules" in kw:
        kw["target_modules"] = tuple(kw["target_modules"])
    return LoraHealConfig(**kw)
