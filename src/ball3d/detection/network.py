"""TrackNet-like ball heatmap network and its self-describing checkpoint.

Input: ``n_frames`` consecutive standardised grey frames (t-n+1..t) plus the foreground channel
of frame t, at ``scale`` of the full resolution. Output: one logit map at the input resolution;
sigmoid(logit) is the probability that the ball centre lies at that pixel (Gaussian target).
A small U-Net: two stride-2 stages down (receptive field ~40 px), two upsampling stages back
with skip connections. Fully convolutional, so the same weights run on full frames and ROI crops.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pipeutil.config import from_params
from pipeutil.io import PipelineError, atomic_path

CHECKPOINT_FORMAT = "ball3d-heatmap-v1"
STRIDE = 4  # input height and width must be multiples of this


@dataclass
class DetectorConfig:
    n_frames: int = 3  # consecutive grey frames stacked as input (t-n+1 .. t)
    use_foreground: bool = True  # add the foreground channel of frame t
    color: bool = True  # frames as 3 BGR channels each (tells a white ball from skin-coloured heads)
    width: int = 8  # channels of the full-resolution stage; x2 per stride-2 stage
    scale: float = 0.5  # detector frame size / full-resolution size
    sigma: float = 1.5  # Gaussian target sigma, detector pixels
    input_source: str = "preprocess"  # frames trained on: preprocess (undistorted npz) | video (raw videos)

    @property
    def in_channels(self) -> int:
        return self.n_frames * (3 if self.color else 1) + int(self.use_foreground)

    @classmethod
    def from_dict(cls, d: dict, source: str = "<config>") -> DetectorConfig:
        cfg = from_params(cls, d, source)
        if (cfg.n_frames < 1 or cfg.width < 1 or not (0 < cfg.scale <= 1) or cfg.sigma <= 0
                or cfg.input_source not in ("preprocess", "video")):
            raise PipelineError(f"{source}: invalid detector config {asdict(cfg)}")
        return cfg


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class HeatmapNet(nn.Module):
    """Encoder-decoder producing a ball-centre logit map at the input resolution."""

    def __init__(self, cfg: DetectorConfig):
        super().__init__()
        c = cfg.width
        self.cfg = cfg
        self.enc1 = _block(cfg.in_channels, c)  # full resolution
        self.enc2 = nn.Sequential(_block(c, 2 * c, stride=2), _block(2 * c, 2 * c))  # 1/2
        self.enc3 = nn.Sequential(_block(2 * c, 4 * c, stride=2), _block(4 * c, 4 * c, dilation=2),
                                  _block(4 * c, 4 * c, dilation=4))  # 1/4, wide context
        self.dec2 = _block(4 * c + 2 * c, 2 * c)  # 1/2
        self.dec1 = _block(2 * c + c, c)  # full resolution
        self.head = nn.Conv2d(c, 1, 1)
        nn.init.constant_(self.head.bias, -4.0)  # start near "no ball anywhere" (prior ~ 0.018)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] % STRIDE == 0 and x.shape[-2] % STRIDE == 0, f"input {tuple(x.shape)} not a multiple of {STRIDE}"
        e1 = self.enc1(x)  # (B, c, H, W)
        e2 = self.enc2(e1)  # (B, 2c, H/2, W/2)
        e3 = self.enc3(e2)  # (B, 4c, H/4, W/4)
        d2 = self.dec2(torch.cat([F.interpolate(e3, scale_factor=2.0, mode="nearest"), e2], 1))  # (B, 2c, H/2, W/2)
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="nearest"), e1], 1))  # (B, c, H, W)
        return self.head(d1)  # (B, 1, H, W) logits


def resolve_device(setting: str) -> torch.device:
    """auto -> cuda when available else cpu; cuda without a GPU -> PipelineError."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise PipelineError("device 'cuda' requested (params train_detector.device / detect.device) but torch sees no GPU")
    return torch.device(setting)


def pad_to_stride(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """Zero-pad (B, C, H, W) on the bottom/right to multiples of STRIDE; return it and the original H, W."""
    H, W = x.shape[-2:]
    ph, pw = (-H) % STRIDE, (-W) % STRIDE
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, H, W


def save_checkpoint(path: str | Path, model: HeatmapNet, provenance: dict) -> str:
    """Write weights + config + provenance atomically; return the sha256 of the file."""
    blob = {"format": CHECKPOINT_FORMAT, "config": asdict(model.cfg),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "provenance": provenance}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_checkpoint(path: str | Path, expect: dict | None = None) -> tuple[HeatmapNet, dict]:
    """Load a checkpoint written by ``save_checkpoint``; corrupt or mismatched -> PipelineError.

    expect: config values the caller relies on (e.g. {"scale": 0.5}); any difference is an error.
    Returns the model in eval mode and the checkpoint's provenance.
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise PipelineError(f"{path}: detector checkpoint not found") from exc
    except Exception as exc:  # torch raises many types on truncated / foreign files
        raise PipelineError(f"{path}: corrupt or unreadable detector checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise PipelineError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint (format {got!r})")
    cfg = DetectorConfig.from_dict(blob.get("config", {}), source=str(path))
    for key, want in (expect or {}).items():
        have = getattr(cfg, key, None)
        if have != want:
            raise PipelineError(f"{path}: checkpoint was trained with {key}={have!r} but {want!r} is required "
                                f"(retrain the detector or change the parameter)")
    model = HeatmapNet(cfg)
    try:
        model.load_state_dict(blob["state_dict"], strict=True)
    except (KeyError, RuntimeError) as exc:
        raise PipelineError(f"{path}: weights do not match the network config {asdict(cfg)} ({exc})") from exc
    model.eval()
    return model, dict(blob.get("provenance", {}))
