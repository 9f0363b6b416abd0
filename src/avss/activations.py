"""Activation capture: one hooked forward pass per batch, streamed into per-layer statistics.

Interface (relied on by the capture rule and by the EAVSS branch):

- ``CaptureConfig``: site, pooling, batch size, maximum length, thresholds, histogram, device.
- ``capture_stats(model, tokenizer, texts, cfg) -> CaptureResult`` takes plain texts
  (tokenised with padding to the longest in the batch; padding is excluded through the
  attention mask), e.g. truthful vs hallucinated answers for per-class statistics.
- ``capture_token_batches(model, batches, cfg)`` takes ``(input_ids [B, T], attention_mask [B, T])``
  pairs, e.g. the wiki calibration windows from ``calibration_windows``.
- ``CaptureResult.layers`` is a ``list[LayerStats]`` (``avss.stats``), one per decoder block;
  ``CaptureResult.angular`` [L + 1, L + 1] is the mean angular distance arccos(cos)/pi of the
  last real token between residual-stream boundaries i and j (boundary i = input of block i,
  boundary L = output of the last block); Gromov et al.'s block selection reads it.
- ``save_capture(result, npz, json)`` / ``load_capture(npz, json)`` write and read
  results/capture/stats.npz (raw accumulator state, float64) and stats.json (metadata and the
  per-layer summary); loading re-checks every array and names the layer holding NaN or inf.
"""
from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from avss.hooks import SITES, BlockIO, block_hooks
from avss.stats import HistSpec, LayerStats, finish_layer
from pipeutil.io import PipelineError, atomic_path, write_json

POOLINGS = ("all", "mean", "last")


class LayerAccumulator:
    """Running statistics of one layer; all state on ``device`` in float64/int64."""

    def __init__(self, layer: int, dim: int, spec: HistSpec, thresholds: tuple[float, ...], device):
        self.layer, self.dim, self.spec, self.thresholds = layer, dim, spec, tuple(thresholds)
        f64 = {"dtype": torch.float64, "device": device}
        self.count = 0
        self.mean = torch.zeros(dim, **f64)  # [D]
        self.m2 = torch.zeros(dim, **f64)  # [D]
        self.token_var_sum = torch.zeros((), **f64)
        self.below = torch.zeros(len(self.thresholds), dtype=torch.int64, device=device)  # [K]
        self.hist = torch.zeros(spec.n + 2, dtype=torch.int64, device=device)  # [n + 2]
        self.cos_sum = torch.zeros((), **f64)
        self.cos_count = 0
        edges = spec.edges()
        # thresholds on a bin edge are read from the histogram; the others are counted directly
        # (values within float32 rounding of the edge may land in the neighbouring bin)
        self._edge_thresholds = {t: int(np.argmin(np.abs(edges - t))) for t in self.thresholds
                                 if np.any(np.isclose(edges, t, rtol=1e-9, atol=0))}

    def add(self, x: torch.Tensor, inp: torch.Tensor, out: torch.Tensor) -> None:
        """x: [N, D] pooled site values; inp/out: [M, H] block input/output at the real tokens.

        Few, cheap kernels (no Welford var, no cosine_similarity): this runs inside every forward.
        """
        x = x.float()  # [N, D]
        n = x.shape[0]
        if n == 0:
            return
        b_mean = x.mean(0)  # [D]
        if not bool(torch.isfinite(b_mean).all()):
            raise PipelineError(f"layer {self.layer}: NaN or inf in the activations "
                                "(the model produced non-finite values; try dtype float32)")
        b_m2 = (x - b_mean).square_().sum(0)  # [D]
        self._merge(n, b_mean.double(), b_m2.double())
        sq = torch.linalg.vector_norm(x, dim=1).double().square_()  # [N] sum of squares per sample
        mu = x.sum(1).double() / self.dim  # [N] mean per sample
        self.token_var_sum += (sq / self.dim - mu.square()).clamp_min_(0).sum()
        ax = x.abs()  # [N, D]
        self.hist += self._bin_counts(ax)
        for k, t in enumerate(self.thresholds):
            if t not in self._edge_thresholds:
                self.below[k] += (ax < t).sum()
        inp, out = inp.float(), out.float()  # [M, H]
        dot = (inp * out).sum(-1)  # [M]
        norms = torch.linalg.vector_norm(inp, dim=-1) * torch.linalg.vector_norm(out, dim=-1)  # [M]
        self.cos_sum += (dot / norms.clamp_min(1e-12)).sum().double()
        self.cos_count += dot.numel()

    def _bin_counts(self, ax: torch.Tensor) -> torch.Tensor:
        """Histogram of |x| [n + 2]: bin 0 below 10**lo (zeros too), 1..n regular, n + 1 overflow."""
        s = self.spec
        pos = torch.log10(ax).mul_(s.bins_per_decade).add_(1.0 - s.lo * s.bins_per_decade)  # [N, D]; -inf for 0
        idx = pos.clamp_(0.0, s.n + 1.5).to(torch.int64)  # truncation == floor for non-negative values
        return torch.bincount(idx.flatten(), minlength=s.n + 2)  # [n + 2]

    def _merge(self, n_b: int, mean_b: torch.Tensor, m2_b: torch.Tensor) -> None:
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean  # [D]
        self.mean += delta * (n_b / n)
        self.m2 += m2_b + delta.square() * (n_a * n_b / n)
        self.count = n

    def check_finite(self) -> None:
        if not bool(torch.isfinite(self.mean).all()) or not bool(torch.isfinite(self.m2).all()):
            raise PipelineError(f"layer {self.layer}: NaN or inf in the activation statistics "
                                "(the model produced non-finite activations; try dtype float32)")

    def state(self) -> dict[str, np.ndarray]:
        """Raw accumulator state as numpy arrays (what stats.npz stores per layer)."""
        hist, below = self.hist.cpu().numpy(), self.below.cpu().numpy()
        for k, t in enumerate(self.thresholds):
            if t in self._edge_thresholds:  # |x| < edges[j]: bins 0..j
                below[k] = hist[: self._edge_thresholds[t] + 1].sum()
        return {"count": np.array(self.count), "feature_mean": self.mean.cpu().numpy(),
                "feature_m2": self.m2.cpu().numpy(), "token_var_sum": self.token_var_sum.cpu().numpy(),
                "below": below, "hist": hist,
                "cos_sum": self.cos_sum.cpu().numpy(), "cos_count": np.array(self.cos_count)}


@dataclass(frozen=True)
class CaptureConfig:
    site: str = "block_output"  # block_output | block_delta (output - input) | mlp_act
    pooling: str = "all"  # all (every real token) | mean (per sequence) | last (last real token)
    batch_size: int = 8  # sequences per forward pass
    max_length: int = 256  # tokens per text (capture_stats truncates longer texts)
    thresholds: tuple[float, ...] = (1e-5, 1e-3, 1e-2)  # absolute |x| thresholds counted exactly
    hist: HistSpec = field(default_factory=HistSpec)
    progress: bool = True  # tqdm progress bar


@dataclass
class CaptureResult:
    layers: list[LayerStats]
    angular: np.ndarray  # [L + 1, L + 1] mean last-token angular distance between boundaries
    states: list[dict]  # raw accumulator state per layer (what stats.npz stores)
    meta: dict  # n_sequences, n_tokens, config, layer path, model class


def hooked_batch(model, col, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One hooked forward pass of (ids, mask) [B, T] (mask bool) through a collector ``col`` (it gets the mask, the
    last real token per row, whether every token is real, fresh boundaries); the batch's angular-distance update."""
    pos = torch.arange(mask.shape[1], device=mask.device)  # [T]
    col.mask, col.last_idx = mask, (mask * pos).argmax(1)  # [B, T], [B]
    col.full = bool(mask.all())
    col.bounds = {}
    _forward(model, ids, mask.long())
    return _angular_update(col.bounds)


def _forward(model, ids: torch.Tensor, mask: torch.Tensor):
    full = bool(mask.all())  # no padding: let the model use its plain causal mask (faster SDPA path)
    kwargs = {"input_ids": ids, "attention_mask": None if full else mask, "use_cache": False}
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        kwargs["logits_to_keep"] = 1  # statistics need no logits: skip the LM head for all but one token
    return model(**kwargs)


def _real(t: torch.Tensor, mask: torch.Tensor, full: bool) -> torch.Tensor:
    """Real (non-padding) tokens of t [B, T, D] -> [N, D]; a view when there is no padding."""
    return t.reshape(-1, t.shape[-1]) if full else t[mask]


def _pool(t: torch.Tensor, mask: torch.Tensor, last_idx: torch.Tensor, pooling: str, full: bool) -> torch.Tensor:
    """t: [B, T, D], mask: [B, T] bool -> pooled samples [N, D]."""
    if pooling == "all":
        return _real(t, mask, full)  # [N_real_tokens, D]
    if pooling == "last":
        return t[torch.arange(t.shape[0], device=t.device), last_idx]  # [B, D]
    m = mask.unsqueeze(-1).to(t.dtype)  # [B, T, 1]
    return (t * m).sum(1) / m.sum(1).clamp_min(1)  # [B, D]


class _Collector:
    """Hook callback: routes each block's tensors to its accumulator for the current batch."""

    def __init__(self, cfg: CaptureConfig):
        self.cfg, self.acc, self.mask, self.last_idx, self.bounds = cfg, {}, None, None, {}
        self.full = False

    def __call__(self, io: BlockIO) -> None:
        site = {"block_output": io.out, "mlp_act": io.mlp_act}.get(self.cfg.site)
        x = io.out - io.inp if self.cfg.site == "block_delta" else site  # [B, T, D]
        if io.layer not in self.acc:
            self.acc[io.layer] = LayerAccumulator(io.layer, x.shape[-1], self.cfg.hist,
                                                  self.cfg.thresholds, x.device)
        self.acc[io.layer].add(_pool(x, self.mask, self.last_idx, self.cfg.pooling, self.full),
                               _real(io.inp, self.mask, self.full), _real(io.out, self.mask, self.full))
        rows = torch.arange(io.out.shape[0], device=io.out.device)
        if io.layer == 0:
            self.bounds[0] = io.inp[rows, self.last_idx].float()  # [B, H]
        self.bounds[io.layer + 1] = io.out[rows, self.last_idx].float()  # [B, H]


def _angular_update(bounds: dict[int, torch.Tensor]) -> torch.Tensor:
    v = torch.stack([bounds[i] for i in range(len(bounds))])  # [L + 1, B, H]
    v = torch.nn.functional.normalize(v, dim=-1)
    cos = torch.einsum("ibh,jbh->ijb", v, v).clamp_(-1.0, 1.0)  # [L + 1, L + 1, B]
    return (torch.arccos(cos) / math.pi).sum(-1).double().cpu()  # [L + 1, L + 1]


def capture_token_batches(model, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                          cfg: CaptureConfig, total: int | None = None) -> CaptureResult:
    """Run the hooked forward pass over ``batches`` and return the finished statistics."""
    if cfg.site not in SITES or cfg.pooling not in POOLINGS:
        raise PipelineError(f"capture: site must be one of {list(SITES)} and pooling one of "
                            f"{list(POOLINGS)}, got {cfg.site!r} / {cfg.pooling!r}")
    device = next(model.parameters()).device
    col, ang, n_seq, n_tok = _Collector(cfg), None, 0, 0
    with torch.inference_mode(), block_hooks(model, col, cfg.site) as dec:
        for ids, mask in tqdm(batches, total=total, desc="capture", disable=not cfg.progress):
            ids, mask = ids.to(device), mask.to(device).bool()  # [B, T]
            keep = mask.any(1)
            ids, mask = ids[keep], mask[keep]
            if ids.shape[0] == 0:
                continue
            upd = hooked_batch(model, col, ids, mask)
            ang = upd if ang is None else ang + upd
            n_seq, n_tok = n_seq + ids.shape[0], n_tok + int(mask.sum())
    if n_seq == 0:
        raise PipelineError("capture: the calibration data is empty (no sequence with a real token)")
    ang = (ang / n_seq).numpy()  # [L + 1, L + 1]
    missing = [i for i in range(len(dec.layers)) if i not in col.acc]
    if missing:
        raise PipelineError(f"capture: the hooks of layer(s) {missing} never fired (layer not called by forward?)")
    states = [col.acc[i].state() for i in range(len(dec.layers))]
    meta = {"n_sequences": n_seq, "n_tokens": n_tok, "n_layers": len(dec.layers), "layer_path": dec.path,
            "model_class": type(model).__name__, "config": _cfg_json(cfg)}
    return _finish(states, ang, meta, cfg.thresholds)


def _finish(states, ang, meta, thresholds) -> CaptureResult:
    layers = [finish_layer(i, st, thresholds, ang[i, i + 1]) for i, st in enumerate(states)]
    if not np.all(np.isfinite(ang)):
        bad = int(np.argwhere(~np.isfinite(ang))[0][0])
        raise PipelineError(f"layer {min(bad, len(layers) - 1)}: NaN or inf in the angular-distance statistics")
    return CaptureResult(layers=layers, angular=ang, states=states, meta=meta)


def _cfg_json(cfg: CaptureConfig) -> dict:
    d = asdict(cfg)
    d["thresholds"] = list(cfg.thresholds)
    return d


def capture_stats(model, tokenizer, texts: list[str], cfg: CaptureConfig) -> CaptureResult:
    """Statistics over plain texts (batched, padded, truncated to ``cfg.max_length``)."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise PipelineError("capture_stats: no non-empty text given")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    def batches():
        for i in range(0, len(texts), cfg.batch_size):
            enc = tokenizer(texts[i:i + cfg.batch_size], return_tensors="pt", padding=True,
                            truncation=True, max_length=cfg.max_length)
            yield enc["input_ids"], enc["attention_mask"]

    return capture_token_batches(model, batches(), cfg, total=math.ceil(len(texts) / cfg.batch_size))


def window_batches(windows: torch.Tensor, batch_size: int):
    """Split calibration windows [N, T] into (ids, full mask) batches."""
    for i in range(0, windows.shape[0], batch_size):
        ids = windows[i:i + batch_size]  # [B, T]
        yield ids, torch.ones_like(ids)


def calibration_windows(text: str, tokenizer, n_samples: int, seq_len: int, seed: int,
                        text_range: tuple[float, float] = (0.0, 0.5)) -> torch.Tensor:
    """``n_samples`` seeded, non-overlapping windows of ``seq_len`` tokens from a slice of ``text``.

    ``text_range`` is the character fraction of the text to draw from (default first half; the
    evaluation's perplexity uses the other half). Returns input ids [n_samples, seq_len].
    """
    lo, hi = int(len(text) * text_range[0]), int(len(text) * text_range[1])
    lines = [ln for ln in text[lo:hi].splitlines(keepends=True) if ln.strip()]
    if not lines:
        raise PipelineError(f"calibration text is empty in the character range {list(text_range)}")
    ids: list[int] = []
    for i in range(0, len(lines), 256):
        for row in tokenizer(lines[i:i + 256], add_special_tokens=False)["input_ids"]:
            ids.extend(row)
        if len(ids) >= 4 * n_samples * seq_len:  # enough to draw from; no need to tokenise the rest
            break
    n_win = len(ids) // seq_len
    if n_win < n_samples:
        raise PipelineError(f"calibration text too short: {len(ids)} tokens give {n_win} windows of "
                            f"{seq_len}, {n_samples} requested")
    pick = np.sort(np.random.default_rng(seed).choice(n_win, size=n_samples, replace=False))
    flat = torch.tensor(ids[: n_win * seq_len], dtype=torch.long).view(n_win, seq_len)  # [W, T]
    return flat[torch.from_numpy(pick)]  # [n_samples, T]


def save_capture(result: CaptureResult, npz_path, json_path, extra_meta: dict | None = None) -> None:
    """Write stats.npz (raw state, stacked over layers) and stats.json (meta + summary), atomically."""
    arrays = {k: np.stack([st[k] for st in result.states]) for k in result.states[0]}
    arrays["angular"] = result.angular
    with atomic_path(npz_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    summary = [{k: v for k, v in asdict(ls).items() if k not in ("hist", "feature_mean", "feature_var")}
               for ls in result.layers]
    write_json(json_path, {**result.meta, **(extra_meta or {}), "layers": summary})


def load_capture(npz_path, json_path) -> CaptureResult:
    """Read what save_capture wrote; NaN or inf anywhere raises PipelineError naming the layer."""
    meta = json.loads(Path(json_path).read_text())
    with np.load(npz_path) as z:
        arrays = {k: z[k] for k in z.files}
    ang = arrays.pop("angular")
    n = arrays["count"].shape[0]
    for k, arr in arrays.items():
        bad = ~np.isfinite(arr.reshape(n, -1)).all(1) if arr.dtype.kind == "f" else np.zeros(n, bool)
        if bad.any():
            raise PipelineError(f"{npz_path}: layer {int(np.argmax(bad))}: NaN or inf in {k!r}")
    states = [{k: arr[i] for k, arr in arrays.items()} for i in range(n)]
    meta.pop("layers", None)
    cfgd = meta["config"]
    return _finish(states, ang, meta, tuple(cfgd["thresholds"]))
