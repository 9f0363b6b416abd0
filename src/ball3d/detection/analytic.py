"""A HeatmapNet whose weights are set by hand: "white and moving" -> ball. No training, same output on any CPU.

What it computes (every other weight is zero, BatchNorm in eval mode with identity statistics):
  enc1   per colour channel k of frame t (or the grey channel) two units,
         p_k = ReLU(z_k + M fg - (a + M)) and q_k = ReLU(z_k + M fg - (a + cap + M)),
         so p_k - q_k = clip(z_k - a, 0, cap) where the foreground is on and 0 where it is off
         (z_k: the channel standardised per frame, as the detector input is; M = ``fg_weight``);
  dec1   r = 3x3 binomial blur of sum_k (p_k - q_k) through the skip connection (the only path used;
         a grey input's single channel counts three times, so r spans 0..3 cap either way);
  head   logit = gain * (r - offset).
A white ball is bright in every channel of the standardised frame; grass, shirts and skin are dark in
at least one, static white lines have no foreground. The cap stops one saturated channel from
answering alone. Used where a test must exercise the heatmap path end to end without depending on
what a few training steps learn on a given CPU (the smoke run: tests/smoke_inputs.py), and as a
training-free baseline; it is no substitute for the trained detector on realistic scenes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .network import DetectorConfig, HeatmapNet, save_checkpoint


@dataclass(frozen=True)
class AnalyticParams:
    threshold: float = 1.0  # a, in standard deviations of the frame: channels below it contribute nothing
    cap: float = 3.0  # largest contribution of one channel, standard deviations
    fg_weight: float = 10.0  # M: without foreground a unit stays below zero whatever the colour
    gain: float = 2.0  # logit per unit of blurred response
    offset: float = 3.5  # response at logit 0 (probability 0.5); 3 channels at the cap give 9


def analytic_heatmap_net(cfg: DetectorConfig, p: AnalyticParams = AnalyticParams()) -> HeatmapNet:
    """The hand-set network for ``cfg`` (needs the foreground channel and enc1 width >= 2 per colour channel)."""
    colours = 3 if cfg.color else 1
    if not cfg.use_foreground or cfg.width < 2 * colours:
        raise ValueError(f"analytic detector needs use_foreground and width >= {2 * colours}, got {cfg}")
    net = HeatmapNet(cfg)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.zero_()
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, torch.nn.BatchNorm2d):  # eval: y = (x - 0) / sqrt(1 - eps + eps) * 1 + 0
                m.running_mean.zero_()
                m.running_var.fill_(1.0 - m.eps)
                m.weight.fill_(1.0)
                m.bias.zero_()
        fg, first = cfg.in_channels - 1, (cfg.n_frames - 1) * colours  # channel of fg(t); first channel of frame t
        conv1, bn1 = net.enc1[0], net.enc1[1]
        blur = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0  # (3, 3)
        skip = 2 * cfg.width  # dec1 input: cat(upsampled dec2 output (2 * width), enc1 output (width))
        for k in range(colours):
            for unit, cut, sign in ((2 * k, p.threshold, 1.0), (2 * k + 1, p.threshold + p.cap, -1.0)):
                conv1.weight[unit, first + k, 1, 1] = 1.0
                conv1.weight[unit, fg, 1, 1] = p.fg_weight
                bn1.bias[unit] = -(cut + p.fg_weight)
                net.dec1[0].weight[0, skip + unit] = sign * blur * (3.0 / colours)  # grey counts thrice
        net.head.weight[0, 0, 0, 0] = p.gain
        net.head.bias[0] = -p.gain * p.offset
    return net.eval()


def write_analytic_checkpoint(path, cfg: DetectorConfig, p: AnalyticParams = AnalyticParams()) -> str:
    """Save the hand-set network as a regular detector checkpoint; returns its sha256."""
    prov = {"analytic": True, "params": asdict(p), "train_scenes": [],
            "note": "hand-set weights (ball3d.analytic_detector), not trained"}
    return save_checkpoint(path, analytic_heatmap_net(cfg, p), prov)
