"""Contrastive fine-tuning of selected decoder layers (full layers or LoRA on them).

Loss per step (docs/eavss.md):  L = w_c * L_InfoNCE + w_lm * L_LM
- L_InfoNCE: for each selected layer, the question vector (mean of the layer's output over the
  question tokens) is the anchor; answer vectors (mean over answer tokens) are candidates; the
  question's truthful answer is the positive, its hallucinated answers (and, optionally, every
  other answer in the batch) are negatives; cosine similarity / temperature, cross-entropy at
  the positive; averaged over selected layers.
- L_LM: next-token cross-entropy on the truthful answers' tokens.
Only parameters of the selected layers receive gradients. A resumable state is written every
``save_every`` steps; the result is a plain Hugging Face folder with finetune.json beside it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from avss.hf_io import load_local
from avss.hooks import BlockIO, block_hooks, find_decoder_layers
from pipeutil.io import PipelineError, atomic_path, remove_stale_temporaries, write_json

from .data import Encoded, TrainQuestion, batch_for_step, encode
from .lora import add_lora, merge_lora

log = logging.getLogger(__name__)
STATE_FILE = "state.safetensors"  # resume state: tensors only; the rest is in meta.json
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class FinetuneConfig:
    """params.yaml: finetune (defaults sized for a 135M model on 2 CPU cores)."""
    steps: int | None = None        # optimiser steps (same for every variant); None = from epochs
    epochs: float = 1.0             # passes over the fold's training questions when steps is None
    batch_questions: int = 4        # questions per step
    max_negatives: int = 2          # hallucinated answers per question per step
    max_length: int = 64            # tokens per sequence (question is cut from the left)
    lr: float = 5e-5                # AdamW learning rate
    weight_decay: float = 0.0
    grad_clip: float = 1.0          # max global gradient norm (0 = off)
    temperature: float = 0.1        # InfoNCE temperature
    contrastive_weight: float = 1.0
    lm_weight: float = 1.0
    in_batch_negatives: bool = True  # other questions' answers are negatives too
    center: bool = True             # subtract the batch mean vector before cosine similarity
    method: str = "full"            # full | lora
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = LORA_TARGETS
    save_every: int = 4             # steps between resumable states (0 = never)
    seed: int = 0

    def __post_init__(self):
        if self.method not in ("full", "lora"):
            raise PipelineError(f"finetune.method: {self.method!r} is not one of ['full', 'lora']")
        if self.temperature <= 0:
            raise PipelineError(f"finetune.temperature: {self.temperature} must be > 0")
        if (self.steps is not None and self.steps < 1) or self.batch_questions < 1 or self.max_length < 4:
            raise PipelineError("finetune: steps and batch_questions must be >= 1, max_length >= 4")
        if not self.epochs > 0:
            raise PipelineError(f"finetune.epochs: {self.epochs} must be > 0")


@dataclass
class StepLoss:
    step: int
    loss: float
    contrastive: float
    lm: float
    extra: dict = field(default_factory=dict)


def decoder_layers(model) -> torch.nn.ModuleList:
    """The model's list of decoder blocks (shared discovery in avss.hooks)."""
    return find_decoder_layers(model).layers


def model_fingerprint(folder: str | Path) -> str:
    """sha256 over the architecture part of config.json and the weight files' bytes."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise PipelineError(f"{folder}: not a Hugging Face model folder (no config.json)")
    cfg = json.loads(cfg_path.read_text())
    keep = {k: v for k, v in cfg.items() if k not in ("_name_or_path", "transformers_version", "dtype", "torch_dtype")}
    h = hashlib.sha256(json.dumps(keep, sort_keys=True).encode())
    for w in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        with open(w, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def check_layers(layers: list[int], n_layers: int, what: str) -> list[int]:
    if not layers:
        raise PipelineError(f"{what}: no layer selected")
    bad = [i for i in layers if not 0 <= int(i) < n_layers]
    if bad or len(set(layers)) != len(layers):
        raise PipelineError(f"{what}: layers {layers} must be distinct and within 0..{n_layers - 1}")
    return sorted(int(i) for i in layers)


def set_trainable(model, layers: list[int], cfg: FinetuneConfig) -> list[torch.nn.Parameter]:
    """Freeze everything, then open the selected layers (or their LoRA adapters)."""
    for p in model.parameters():
        p.requires_grad_(False)
    blocks = decoder_layers(model)
    chosen = [blocks[i] for i in layers]
    if cfg.method == "lora":
        return add_lora(chosen, list(cfg.lora_targets), cfg.lora_rank, cfg.lora_alpha)
    params = [p for b in chosen for p in b.parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


@contextlib.contextmanager
def layer_outputs(model, layers: list[int]):
    """Collect the outputs (with grad) of the chosen decoder blocks via avss.hooks.block_hooks."""
    wanted = set(layers)
    store: dict[int, torch.Tensor] = {}

    def keep(io: BlockIO) -> None:
        if io.layer in wanted:
            store[io.layer] = io.out  # [N, T, H]
    with block_hooks(model, keep, site="block_output"):
        yield store


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """h: [N, T, H], mask: [N, T] -> [N, H] mean over masked positions."""
    m = mask.unsqueeze(-1).to(h.dtype)  # [N, T, 1]
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


def info_nce(states: list[torch.Tensor], enc: Encoded, temperature: float, in_batch: bool,
             center: bool) -> torch.Tensor:
    """Mean over layers of cross-entropy of (question . answer cosine / T) at the truthful answer."""
    losses = []
    for h in states:  # [R, T, H]
        q = masked_mean(h[enc.q_rows], enc.q_mask[enc.q_rows])  # [G, H] anchors
        a = masked_mean(h[enc.a_rows], enc.a_mask)             # [N, H] candidates
        if center:
            mu = torch.cat([q, a]).mean(0, keepdim=True)  # [1, H]
            q, a = q - mu, a - mu
        sim = F.normalize(q, dim=-1) @ F.normalize(a, dim=-1).T / temperature  # [G, N]
        if not in_batch:
            own = enc.group.unsqueeze(0) == torch.arange(len(enc.pos_rows)).unsqueeze(1)  # [G, N]
            sim = sim.masked_fill(~own, float("-inf"))
        losses.append(F.cross_entropy(sim, enc.pos_rows))
    return torch.stack(losses).mean()


def lm_loss(model, last_hidden: torch.Tensor, enc: Encoded) -> torch.Tensor:
    """Next-token cross-entropy on truthful answer tokens, logits only where a label exists."""
    where = enc.labels != -100                          # [R, T]
    h = last_hidden[where]                              # [M, H]
    logits = model.get_output_embeddings()(h)           # [M, V]
    return F.cross_entropy(logits.float(), enc.labels[where])


def forward_states(model, enc: Encoded, layers: list[int]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Outputs [R, T, H] of the selected blocks and the last hidden state of one forward pass."""
    dtype = next(model.parameters()).dtype
    with layer_outputs(model, layers) as store:
        out = model.base_model(input_ids=enc.input_ids, position_ids=enc.position_ids,
                               attention_mask=enc.attention_mask(dtype))
    return [store[i] for i in layers], out.last_hidden_state


def train_step(model, enc: Encoded, layers: list[int], cfg: FinetuneConfig) -> StepLoss:
    """Forward once, both losses, backward (no optimiser step)."""
    states, last = forward_states(model, enc, layers)
    lc = info_nce(states, enc, cfg.temperature, cfg.in_batch_negatives, cfg.center)
    ll = lm_loss(model, last, enc)
    loss = cfg.contrastive_weight * lc + cfg.lm_weight * ll
    loss.backward()
    return StepLoss(-1, loss.item(), lc.item(), ll.item())


def _config_key(cfg: FinetuneConfig, layers: list[int]) -> str:
    d = {k: v for k, v in asdict(cfg).items() if k not in ("steps", "epochs", "save_every")}
    return hashlib.sha256(json.dumps({**d, "layers": layers}, sort_keys=True, default=list).encode()).hexdigest()


def _save_state(state_dir: Path, meta: dict, params: list[torch.nn.Parameter], opt, history: list[dict]) -> None:
    """Write the resumable state atomically: tensors (trainable parameters, optimiser moments, torch RNG) as
    safetensors, everything else (step, loss history, optimiser hyper-parameters) as JSON. No pickle."""
    tensors = {f"param.{i}": p.detach().contiguous().clone() for i, p in enumerate(params)}
    sd = opt.state_dict()
    scalars: dict[str, dict] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"opt.{idx}.{key}"] = val.detach().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[key] = val
    tensors["torch_rng"] = torch.get_rng_state()
    with atomic_path(state_dir) as tmp:
        tmp.mkdir()
        save_file(tensors, str(tmp / STATE_FILE))
        write_json(tmp / "meta.json", {**meta, "history": history,
                                       "optimizer": {"param_groups": sd["param_groups"], "scalars": scalars}})


def _load_state(state_dir: Path, old: dict, params: list[torch.nn.Parameter], opt) -> None:
    """Put a state written by _save_state into ``params``, ``opt`` and torch's RNG."""
    try:
        tensors = load_file(str(state_dir / STATE_FILE))
    except Exception as exc:  # safetensors raises its own error types on a damaged file
        raise PipelineError(f"{state_dir / STATE_FILE}: unreadable resume state ({exc}); delete the folder "
                            "to start over") from exc
    saved = [tensors.get(f"param.{i}") for i in range(len(params))]
    if any(t is None or t.shape != p.shape for t, p in zip(saved, params)) or f"param.{len(params)}" in tensors:
        raise PipelineError(f"{state_dir}: resume checkpoint does not match the trainable parameters")
    state: dict[int, dict] = {}
    for key, val in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = val
    for idx, extra in old["optimizer"].get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(extra)
    with torch.no_grad():
        for p, t in zip(params, saved):
            p.copy_(t)
    opt.load_state_dict({"state": state, "param_groups": old["optimizer"]["param_groups"]})
    torch.set_rng_state(tensors["torch_rng"])


def _resume(state_dir: Path, meta: dict, params: list[torch.nn.Parameter], opt) -> tuple[int, list[dict]]:
    """Load a previous state if it belongs to the same model and configuration; return (start step, history)."""
    meta_path = state_dir / "meta.json"
    if not meta_path.is_file():
        return 0, []
    old = json.loads(meta_path.read_text())
    if old.get("base_fingerprint") != meta["base_fingerprint"]:
        raise PipelineError(f"{state_dir}: this resume checkpoint was written for a different model "
                            f"(fingerprint {str(old.get('base_fingerprint'))[:12]}..., current model "
                            f"{meta['base_fingerprint'][:12]}...); delete the folder to start over")
    if old.get("config_key") != meta["config_key"]:
        log.warning("%s: resume state has another configuration; starting from step 0", state_dir)
        return 0, []
    if not (state_dir / STATE_FILE).is_file() or "optimizer" not in old:
        # e.g. a state.pt of an older version: a pickle, which could run code when loaded; never read it
        log.warning("%s: no %s (safetensors) resume state; starting from step 0", state_dir, STATE_FILE)
        return 0, []
    _load_state(state_dir, old, params, opt)
    log.info("resuming %s at step %d", state_dir, old["step"])
    return int(old["step"]), list(old.get("history", []))


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _train_loop(model, tok, questions, layers, params, opt, cfg, start, history, state_dir, meta) -> list[dict]:
    model.train()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="finetune", mininterval=5)
    for step in bar:
        enc = encode(tok, batch_for_step(questions, step, cfg.batch_questions, cfg.max_negatives, cfg.seed),
                     cfg.max_length)
        opt.zero_grad(set_to_none=True)
        sl = train_step(model, enc, layers, cfg)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        history.append({"step": step + 1, "loss": sl.loss, "contrastive": sl.contrastive, "lm": sl.lm})
        bar.set_postfix(loss=f"{sl.loss:.3f}", nce=f"{sl.contrastive:.3f}", lm=f"{sl.lm:.3f}")
        log.info("step %d/%d loss %.4f (infonce %.4f, lm %.4f)", step + 1, cfg.steps, sl.loss, sl.contrastive, sl.lm)
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < cfg.steps:
            _save_state(state_dir, {**meta, "step": step + 1}, params, opt, history)
    model.eval()
    return history


def run_finetune(model_dir: str, questions: list[TrainQuestion], layers: list[int], out_dir: str, state_dir: str,
                 cfg: FinetuneConfig, info: dict | None = None) -> dict:
    """Fine-tune ``layers`` of the model in ``model_dir`` on ``questions``; save an HF folder to ``out_dir``.

    Interrupted runs resume from ``state_dir`` (removed after success). Returns finetune.json's content.
    """
    if cfg.steps is None:
        raise PipelineError("finetune.steps: null means 'from finetune.epochs'; resolve it with the number of "
                            "training questions first (avss.finetune.jobs.steps_for)")
    base_fp = model_fingerprint(model_dir)
    remove_stale_temporaries(state_dir)  # a save killed half-way
    _seed_all(cfg.seed)
    model, tok = load_local(model_dir, dtype=torch.float32)
    layers = check_layers(list(layers), len(decoder_layers(model)), "finetune layers")
    params = set_trainable(model, layers, cfg)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    meta = {"base_fingerprint": base_fp, "config_key": _config_key(cfg, layers)}
    start, history = _resume(Path(state_dir), meta, params, opt)
    history = _train_loop(model, tok, questions, layers, params, opt, cfg, start, history, Path(state_dir), meta)
    if cfg.method == "lora":
        merge_lora(model)
    result = {**(info or {}), "base_model": str(model_dir), "base_fingerprint": base_fp, "layers": layers,
              "n_layers": len(decoder_layers(model)), "config": asdict(cfg), "steps_done": len(history),
              "trainable_parameters": sum(p.numel() for p in params), "train_questions": [q.key for q in questions],
              "history": history}
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_json(tmp / "finetune.json", result)
    _drop_state(Path(state_dir))
    return result


def _drop_state(state_dir: Path) -> None:
    """Remove the resume state of a finished run, and its parent folder once no run needs it."""
    shutil.rmtree(state_dir, ignore_errors=True)
    try:
        state_dir.parent.rmdir()  # only succeeds when empty: other runs may still hold state there
    except OSError:
        pass


def check_finetuned(folder: str | Path, base_dir: str | Path) -> dict:
    """finetune.json of ``folder``; PipelineError if it was fine-tuned from another model than ``base_dir``."""
    path = Path(folder) / "finetune.json"
    if not path.is_file():
        raise PipelineError(f"{folder}: not a fine-tuned checkpoint of this pipeline (no finetune.json)")
    info = json.loads(path.read_text())
    if info.get("base_fingerprint") != model_fingerprint(base_dir):
        raise PipelineError(f"{folder}: checkpoint was fine-tuned from a different model than {base_dir} "
                            f"(base fingerprint mismatch); re-run the finetune phase")
    return info
