"""Pinhole camera with OpenCV distortion: the record every vision phase exchanges.

Conventions: world frame in metres, pitch centre at the origin, x along the length (105 m),
y along the width (68 m), z up. ``R`` and ``t`` map world to camera: X_c = R @ X_w + t.
Camera axes follow OpenCV (x right, y down, z forward). Pixel centres are integers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeutil.io import PipelineError, write_json


@dataclass
class Camera:
    name: str
    K: np.ndarray  # (3, 3) intrinsics, pixels
    dist: np.ndarray  # (5,) OpenCV k1 k2 p1 p2 k3
    R: np.ndarray  # (3, 3) world -> camera rotation
    t: np.ndarray  # (3,) world -> camera translation, metres
    width: int
    height: int
    fps: float = 25.0
    meta: dict = field(default_factory=dict)  # provenance: source, rms, ...

    def __post_init__(self):
        where = f"camera {self.name!r}"
        shapes = {"K": ((3, 3), "intrinsic matrix K must be 3x3 finite numbers"),
                  "dist": ((-1,), "distortion dist must be 4 or 5 finite numbers (OpenCV k1 k2 p1 p2 [k3])"),
                  "R": ((3, 3), "R is not a rotation matrix"), "t": ((3,), "translation t must be 3 finite numbers")}
        for key, (shape, what) in shapes.items():
            try:
                setattr(self, key, np.asarray(getattr(self, key), dtype=np.float64).reshape(shape))
            except (TypeError, ValueError) as exc:
                raise PipelineError(f"{where}: {what}, got {getattr(self, key)!r}") from exc
        self.validate()

    def validate(self) -> None:
        K = self.K
        where = f"camera {self.name!r}"
        if self.t.shape != (3,) or not np.all(np.isfinite(self.t)):
            raise PipelineError(f"{where}: translation t must be 3 finite numbers, got {self.t.tolist()}")
        if len(self.dist) not in (4, 5) or not np.all(np.isfinite(self.dist)):
            raise PipelineError(f"{where}: distortion dist must be 4 or 5 finite numbers (OpenCV k1 k2 p1 p2 [k3]), "
                                f"got {self.dist.tolist()}")
        if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise PipelineError(f"{where}: intrinsic matrix needs finite positive focal lengths, got fx={K[0,0]}, fy={K[1,1]}")
        if not np.allclose(K[2], [0, 0, 1]) or abs(K[1, 0]) > 1e-9:
            raise PipelineError(f"{where}: intrinsic matrix must have last row [0 0 1] and K[1,0]=0, got {K.tolist()}")
        if not (0 <= K[0, 2] <= self.width and 0 <= K[1, 2] <= self.height):
            raise PipelineError(f"{where}: principal point ({K[0,2]:.1f}, {K[1,2]:.1f}) lies outside the {self.width}x{self.height} image")
        if self.width <= 0 or self.height <= 0:
            raise PipelineError(f"{where}: image size must be positive, got {self.width}x{self.height}")
        if not np.allclose(self.R @ self.R.T, np.eye(3), atol=1e-6) or np.linalg.det(self.R) < 0:
            raise PipelineError(f"{where}: R is not a rotation matrix")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise PipelineError(f"{where}: fps must be a finite positive number, got {self.fps}")

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates (metres)."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) projection matrix of the undistorted camera."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    def project(self, X: np.ndarray, distort: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> pixels (N, 2) and depth (N,). Points behind the camera get NaN pixels."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        Xc = X @ self.R.T + self.t  # (N, 3)
        z = Xc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x, y = Xc[:, 0] / z, Xc[:, 1] / z
        if distort and np.any(self.dist):
            k1, k2, p1, p2, k3 = (list(self.dist) + [0.0] * 5)[:5]
            r2 = x * x + y * y
            radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
            x, y = (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                    y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)
        uv = np.stack([self.K[0, 0] * x + self.K[0, 1] * y + self.K[0, 2], self.K[1, 1] * y + self.K[1, 2]], axis=1)
        uv[z <= 0] = np.nan
        return uv, z

    def to_dict(self) -> dict:
        return {"name": self.name, "K": self.K.tolist(), "dist": self.dist.tolist(), "R": self.R.tolist(),
                "t": self.t.tolist(), "width": self.width, "height": self.height, "fps": self.fps, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict, source: str = "<dict>") -> "Camera":
        missing = [k for k in ("name", "K", "dist", "R", "t", "width", "height") if k not in d]
        if missing:
            raise PipelineError(f"{source}: camera file lacks keys {missing}")
        return cls(name=d["name"], K=d["K"], dist=d["dist"], R=d["R"], t=d["t"], width=int(d["width"]),
                   height=int(d["height"]), fps=float(d.get("fps", 25.0)), meta=d.get("meta", {}))

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Camera":
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise PipelineError(f"{path}: cannot read camera file ({exc})") from exc
        try:
            return cls.from_dict(d, source=str(path))
        except PipelineError as exc:
            raise PipelineError(f"{path}: {exc}") from exc


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """R, t of a camera at ``eye`` looking at ``target`` (OpenCV axes, world z up)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world coordinates
    return R, -R @ eye
