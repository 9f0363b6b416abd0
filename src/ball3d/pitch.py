"""Football pitch geometry (FIFA 105 x 68 m): line texture, goals and named landmarks.

World frame as in ``ball3d.camera``: origin at the centre spot, x along the length, y along the
width, z up, metres. Landmarks are points a person can click in a real frame (line crossings,
goal posts, corner flags); several lie off the ground plane so PnP is well conditioned.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LENGTH, WIDTH = 105.0, 68.0
LINE_W = 0.12  # line width, metres
CIRCLE_R = 9.15
PEN_DEPTH, PEN_WIDTH = 16.5, 40.32
GOAL_AREA_DEPTH, GOAL_AREA_WIDTH = 5.5, 18.32
PEN_SPOT = 11.0
GOAL_W, GOAL_H, POST_D = 7.32, 2.44, 0.12
SPOT_R = 0.11  # radius of the centre and penalty spots, metres
FLAG_H = 1.5


@dataclass(frozen=True)
class Landmarks:
    names: list[str]
    xyz: np.ndarray  # (N, 3) metres

    def to_dict(self) -> dict:
        return {"names": list(self.names), "xyz": self.xyz.tolist()}


def landmarks() -> Landmarks:
    """Named 3D landmarks of the pitch (ground points, goal frames, corner flag tops)."""
    hx, hy = LENGTH / 2, WIDTH / 2
    pts: dict[str, tuple[float, float, float]] = {"centre_spot": (0, 0, 0),
                                                   "halfway_top": (0, hy, 0), "halfway_bottom": (0, -hy, 0),
                                                   "circle_top": (0, CIRCLE_R, 0), "circle_bottom": (0, -CIRCLE_R, 0),
                                                   "circle_left": (-CIRCLE_R, 0, 0), "circle_right": (CIRCLE_R, 0, 0)}
    for side, sx in (("left", -1), ("right", 1)):
        gx = sx * hx
        for tb, sy in (("top", 1), ("bottom", -1)):
            pts[f"corner_{side}_{tb}"] = (gx, sy * hy, 0)
            pts[f"flag_{side}_{tb}"] = (gx, sy * hy, FLAG_H)
            pts[f"pen_{side}_{tb}_goalline"] = (gx, sy * PEN_WIDTH / 2, 0)
            pts[f"pen_{side}_{tb}_inner"] = (gx - sx * PEN_DEPTH, sy * PEN_WIDTH / 2, 0)
            pts[f"area_{side}_{tb}_goalline"] = (gx, sy * GOAL_AREA_WIDTH / 2, 0)
            pts[f"area_{side}_{tb}_inner"] = (gx - sx * GOAL_AREA_DEPTH, sy * GOAL_AREA_WIDTH / 2, 0)
            pts[f"post_{side}_{tb}_base"] = (gx, sy * GOAL_W / 2, 0)
            pts[f"post_{side}_{tb}_top"] = (gx, sy * GOAL_W / 2, GOAL_H)
        pts[f"pen_spot_{side}"] = (gx - sx * PEN_SPOT, 0, 0)
    names = sorted(pts)
    return Landmarks(names=names, xyz=np.array([pts[n] for n in names], dtype=np.float64))


def _circle(cx, cy, r, a0, a1, n=96) -> np.ndarray:
    a = np.linspace(a0, a1, n)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1)


def line_polylines() -> list[np.ndarray]:
    """Pitch markings as 2D polylines on the ground (each (N, 2), metres)."""
    hx, hy = LENGTH / 2, WIDTH / 2
    rect = lambda x0, y0, x1, y1: np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])  # noqa: E731
    lines = [rect(-hx, -hy, hx, hy), np.array([[0, -hy], [0, hy]]), _circle(0, 0, CIRCLE_R, 0, 2 * np.pi)]
    arc = np.arccos((PEN_DEPTH - PEN_SPOT) / CIRCLE_R)
    for sx in (-1, 1):
        gx = sx * hx
        lines.append(rect(gx, -PEN_WIDTH / 2, gx - sx * PEN_DEPTH, PEN_WIDTH / 2))
        lines.append(rect(gx, -GOAL_AREA_WIDTH / 2, gx - sx * GOAL_AREA_DEPTH, GOAL_AREA_WIDTH / 2))
        centre = np.pi if sx > 0 else 0.0
        lines.append(_circle(gx - sx * PEN_SPOT, 0, CIRCLE_R, centre - arc, centre + arc, 48))
        for sy in (-1, 1):
            a0 = np.arctan2(-sy, -sx)
            lines.append(_circle(gx, sy * hy, 1.0, a0 - np.pi / 4, a0 + np.pi / 4, 16))
    return lines


def spots() -> np.ndarray:
    """Centre and penalty spots (3, 2), metres."""
    return np.array([[0, 0], [-LENGTH / 2 + PEN_SPOT, 0], [LENGTH / 2 - PEN_SPOT, 0]])


@dataclass(frozen=True)
class GroundTexture:
    image: np.ndarray  # (H, W, 3) uint8, top-down view of the ground
    res_m: float  # metres per texel
    x0: float  # world x of texel column 0 (texel centre), metres
    y0: float  # world y of texel row 0

    def to_texel(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (x - self.x0) / self.res_m, (y - self.y0) / self.res_m


def ground_texture(res_m: float = 0.04, margin_m: float = 6.0, seed: int = 0) -> GroundTexture:
    """Top-down grass texture with mowing stripes, slight noise and white markings."""
    rng = np.random.default_rng(seed)
    w = int(round((LENGTH + 2 * margin_m) / res_m))
    h = int(round((WIDTH + 2 * margin_m) / res_m))
    x0, y0 = -LENGTH / 2 - margin_m, -WIDTH / 2 - margin_m
    xs = x0 + np.arange(w) * res_m
    stripe = ((np.floor((xs + LENGTH / 2) / (LENGTH / 18)) % 2) * 14).astype(np.float32)  # (W,)
    base = np.array([40, 120, 50], np.float32)  # BGR grass
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    img += stripe[None, :, None] * np.array([0.4, 1.0, 0.5], np.float32)
    coarse = cv2.resize(rng.normal(0, 6, (h // 32 + 1, w // 32 + 1)).astype(np.float32), (w, h))  # (H, W)
    img += coarse[:, :, None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    tex = GroundTexture(image=img, res_m=res_m, x0=x0, y0=y0)
    thick = max(1, int(round(LINE_W / res_m)))
    white = (235, 240, 240)
    for pl in line_polylines():
        u, v = tex.to_texel(pl[:, 0], pl[:, 1])
        pts = np.round(np.stack([u, v], axis=1) * 16).astype(np.int32)
        cv2.polylines(img, [pts], False, white, thick, cv2.LINE_AA, shift=4)
    for sx, sy in spots():
        u, v = tex.to_texel(np.array([sx]), np.array([sy]))
        cv2.circle(img, (int(u[0]), int(v[0])), max(1, int(SPOT_R / res_m)), white, -1, cv2.LINE_AA)
    return tex


def goal_segments() -> list[np.ndarray]:
    """Goal frames and corner flags as 3D polylines (each (N, 3)), for rendering as thick lines."""
    hx = LENGTH / 2
    segs = []
    for sx in (-1, 1):
        gx = sx * hx
        segs.append(np.array([[gx, -GOAL_W / 2, 0], [gx, -GOAL_W / 2, GOAL_H], [gx, GOAL_W / 2, GOAL_H],
                              [gx, GOAL_W / 2, 0]]))
        for sy in (-1, 1):
            segs.append(np.array([[gx, sy * WIDTH / 2, 0], [gx, sy * WIDTH / 2, FLAG_H]]))
    return segs
