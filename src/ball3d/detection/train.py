"""Training of the heatmap detector on rendered training scenes (CPU-sized by default).

Memory stays bounded whatever the scene size: each camera clip is turned into a bank of input
windows (``crop + 2 * margin`` square, around the ball's true position with jitter, plus random
windows), the clip is then released. A batch takes random ``crop`` sub-windows of bank entries
(translation), random horizontal flips, contrast and noise changes, and a Gaussian target at the
true ball centre when the ball is inside and at least ``min_visible`` visible (else all zero).
Loss: binary cross-entropy on logits, weighted 1 + pos_weight * target (the ball is a few pixels
of a large crop).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .inputs import CameraClip, stack_input
from .network import DetectorConfig, HeatmapNet, resolve_device

log = logging.getLogger(__name__)


@dataclass
class TrainParams:
    seed: int = 0  # seeds numpy and torch (sampling, init, augmentation)
    steps: int = 1600  # optimiser steps
    batch_size: int = 16  # windows per step
    crop: int = 64  # training window side, detector pixels (multiple of 4)
    margin: int = 8  # extra border stored around each bank window for translation jitter
    pos_per_clip: int = 120  # windows around the ball (visible or not) per camera clip
    neg_per_clip: int = 40  # random windows per camera clip
    lr: float = 3e-3  # Adam learning rate (divided by 10 for the last 30 % of the steps)
    weight_decay: float = 1e-5  # Adam weight decay
    pos_weight: float = 30.0  # extra loss weight on the Gaussian target
    min_visible: float = 0.25  # ball less visible than this gets no target (matches the metric)
    occluded_boost: float = 1.0  # positive windows drawn this many times more often from partly hidden frames
    occluded_below: float = 0.75  # visible fraction below which a frame counts as partly hidden (as the metric)
    threads: int = 2  # torch CPU threads
    log_every: int = 50  # steps between training-curve points
    device: str = "auto"  # cpu | cuda | auto


@dataclass
class Bank:
    x: np.ndarray  # (N, C, S, S) float16 input windows, S = crop + 2 * margin
    centre: np.ndarray  # (N, 2) ball centre inside the window (detector px), NaN when no target


def _target_centre(clip: CameraClip, truth_pc: dict, t: int, x0: int, y0: int, min_visible: float) -> list[float]:
    uv = truth_pc["uv"][t]
    if uv is None or float(truth_pc["visible_fraction"][t]) < min_visible:
        return [np.nan, np.nan]
    u, v = clip.to_det(np.asarray(uv))[0]
    return [u - x0, v - y0]


def clip_bank(clip: CameraClip, truth_pc: dict, cfg: DetectorConfig, p: TrainParams,
              rng: np.random.Generator) -> Bank:
    """Input windows of one camera clip: around the ball (with jitter), around moving things that
    are not the ball (players' heads and feet: hard negatives) and at random places."""
    w, h = clip.det_size
    S = min(p.crop + 2 * p.margin, h - h % 4, w - w % 4)
    in_view = [t for t, uv in enumerate(truth_pc["uv"]) if uv is not None]
    vis = np.array([float(truth_pc["visible_fraction"][t]) for t in in_view])
    weight = np.where(vis < p.occluded_below, p.occluded_boost, 1.0)  # (n,) sampling weight per in-view frame
    weight = weight / weight.sum() if len(weight) and p.occluded_boost != 1.0 else None  # None: uniform draws
    xs, cs = [], []
    for k in range(p.pos_per_clip + p.neg_per_clip):
        t = int(rng.choice(in_view, p=weight)) if k < p.pos_per_clip and in_view else int(rng.integers(0, clip.n_frames))
        if k < p.pos_per_clip and in_view:
            u, v = clip.to_det(np.asarray(truth_pc["uv"][t]))[0] + rng.uniform(-S / 3, S / 3, 2)
        else:
            u, v = _negative_centre(clip, truth_pc, t, rng, hard=(k - p.pos_per_clip) % 2 == 0)
        x0 = int(np.clip(round(u - S / 2), 0, w - S))
        y0 = int(np.clip(round(v - S / 2), 0, h - S))
        win = (x0, y0, x0 + S, y0 + S)
        xs.append(stack_input(clip, t, cfg.n_frames, cfg.use_foreground, win, cfg.color).astype(np.float16))
        cs.append(_target_centre(clip, truth_pc, t, x0, y0, p.min_visible))
    return Bank(np.stack(xs), np.asarray(cs, dtype=np.float32))


def _negative_centre(clip: CameraClip, truth_pc: dict, t: int, rng: np.random.Generator, hard: bool) -> np.ndarray:
    """A random place, or (hard) a random foreground pixel at least 4 px from the ball, of frame t."""
    w, h = clip.det_size
    if hard:
        ys, xs = np.nonzero(clip.fg[t] > 0.5)
        if len(xs):
            pts = np.stack([xs, ys], 1).astype(np.float64)  # (n, 2)
            if truth_pc["uv"][t] is not None:
                pts = pts[np.hypot(*(pts - clip.to_det(np.asarray(truth_pc["uv"][t]))[0]).T) > 4]
            if len(pts):
                return pts[rng.integers(len(pts))]
    return np.array([rng.uniform(0, w), rng.uniform(0, h)])


def merge_banks(banks: list[Bank]) -> Bank:
    S = min(b.x.shape[-1] for b in banks)
    return Bank(np.concatenate([b.x[..., :S, :S] for b in banks]), np.concatenate([b.centre for b in banks]))


def gaussian_target(centres: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """(B, 2) centres (NaN = none) -> (B, 1, size, size) Gaussian heatmaps with peak 1."""
    g = np.arange(size, dtype=np.float32)
    dx = g[None, None, :] - centres[:, 0, None, None]  # (B, 1, size)
    dy = g[None, :, None] - centres[:, 1, None, None]  # (B, size, 1)
    heat = np.exp(-(dx**2 + dy**2) / (2 * sigma**2))  # (B, size, size)
    return np.nan_to_num(heat, nan=0.0)[:, None].astype(np.float32)


def sample_batch(bank: Bank, cfg: DetectorConfig, p: TrainParams, rng: np.random.Generator):
    """Augmented batch: x (B, C, crop, crop), target (B, 1, crop, crop)."""
    S = bank.x.shape[-1]
    crop = min(p.crop, S)
    idx = rng.integers(0, len(bank.x), p.batch_size)
    off = rng.integers(0, S - crop + 1, (p.batch_size, 2))  # (B, 2) x, y offsets
    x = np.stack([bank.x[i, :, oy:oy + crop, ox:ox + crop] for i, (ox, oy) in zip(idx, off)]).astype(np.float32)
    c = bank.centre[idx] - off  # (B, 2)
    flip = rng.random(p.batch_size) < 0.5
    x[flip] = x[flip, :, :, ::-1]
    c[flip, 0] = crop - 1 - c[flip, 0]
    n_grey = cfg.n_frames
    gain = rng.uniform(0.6, 1.4, (p.batch_size, 1, 1, 1)).astype(np.float32)
    x[:, :n_grey] = x[:, :n_grey] * gain + rng.normal(0, rng.uniform(0, 0.3), x[:, :n_grey].shape).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(gaussian_target(c, crop, cfg.sigma))


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """Weighted BCE: logits, target (B, 1, H, W) -> scalar."""
    w = 1.0 + pos_weight * target  # (B, 1, H, W)
    return (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * w).sum() / w.sum()


def fit(bank: Bank, cfg: DetectorConfig, p: TrainParams, timing: list | None = None) -> tuple[HeatmapNet, list[dict]]:
    """Train a fresh network on the bank; return it (eval mode) and the training curve (step, loss).
    ``timing``, when given, receives {"step", "seconds"} at every curve point (wall clock: kept out of the curve)."""
    torch.manual_seed(p.seed)
    torch.set_num_threads(p.threads)
    rng = np.random.default_rng(p.seed + 1)
    dev = resolve_device(p.device)
    model = HeatmapNet(cfg).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[int(0.7 * p.steps)], gamma=0.1)
    curve, run, t0 = [], [], time.perf_counter()
    model.train()
    for step in range(1, p.steps + 1):
        x, y = sample_batch(bank, cfg, p, rng)  # (B, C, s, s), (B, 1, s, s)
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        loss = heatmap_loss(model(x), y, p.pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        run.append(float(loss.detach()))
        if step % p.log_every == 0 or step == p.steps:
            curve.append({"step": step, "loss": float(np.mean(run))})
            seconds = round(time.perf_counter() - t0, 2)
            if timing is not None:
                timing.append({"step": step, "seconds": seconds})
            log.info("step %d/%d loss %.4f (%.0f s)", step, p.steps, curve[-1]["loss"], seconds)
            run = []
    model.eval()
    return model, curve
