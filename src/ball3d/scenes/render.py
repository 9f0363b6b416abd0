"""Rasteriser for one camera of a synthetic scene: static background, players, ball, sensor.

The static background (pitch texture, stands, goals) is rendered once per camera by casting
the ray of every pixel (through the exact inverse of the lens distortion) onto the ground plane
and sampling a mip-mapped top-down texture. Per frame, players (coloured polygons) and the ball
(an anti-aliased shaded disc, averaged over sub-frame positions for motion blur) are drawn in
depth order, then the sensor model applies gain and noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ball3d.camera import Camera
from ball3d.pitch import GroundTexture, goal_segments
from ball3d.rig import undistort_grid

STANDS_BGR = np.array([70, 60, 55], np.float32)
TEAM_BGR = [(40, 40, 200), (200, 120, 30), (20, 20, 20)]  # red, blue, referee black
SKIN_BGR = (120, 150, 200)
SHORTS_BGR = (30, 30, 30)
HEAD_R_M = 0.11  # player head radius, metres


def _ground_maps(cam: Camera, tex: GroundTexture):
    xs, ys = undistort_grid(cam)  # (H, W) each
    Rt = cam.R.T
    d = [Rt[k, 0] * xs + Rt[k, 1] * ys + Rt[k, 2] for k in range(3)]  # world ray directions
    C = cam.center
    down = d[2] < -1e-6
    s = np.where(down, -C[2] / np.where(down, d[2], -1.0), 0.0)
    X, Y = C[0] + s * d[0], C[1] + s * d[1]
    tu, tv = tex.to_texel(X, Y)
    norm2 = d[0] ** 2 + d[1] ** 2 + d[2] ** 2
    across = s * np.sqrt(norm2) / cam.K[0, 0]  # metres per pixel across the ray
    along = s * norm2 / (cam.K[0, 0] * np.maximum(np.abs(d[2]), 1e-6))
    level = np.log2(np.maximum(np.sqrt(across * along) / tex.res_m, 1.0))
    tu[~down], tv[~down] = -1e6, -1e6
    azim = np.arctan2(d[1], d[0])
    return tu.astype(np.float32), tv.astype(np.float32), level.astype(np.float32), azim, d[2] / np.sqrt(norm2)


def render_background(cam: Camera, tex: GroundTexture, n_levels: int = 4) -> np.ndarray:
    """Static (H, W, 3) uint8 view of pitch, stands and goals for ``cam``."""
    tu, tv, level, azim, dz = _ground_maps(cam, tex)
    stands = STANDS_BGR[None, None, :] * (1 + 0.25 * np.sin(azim * 180.0))[:, :, None].astype(np.float32)
    stands *= (0.8 + 0.4 * np.clip(-dz * 5 + 0.5, 0, 1))[:, :, None].astype(np.float32)
    pyr = [tex.image]
    for _ in range(n_levels - 1):
        pyr.append(cv2.pyrDown(pyr[-1]))
    samples = []
    for k, img in enumerate(pyr):
        sc = 0.5**k
        mx, my = tu * sc, tv * sc  # pyrDown's output pixel i is centred on input pixel 2i
        samp = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(-1, -1, -1))
        samples.append(samp.astype(np.float32))
    lv = np.clip(level, 0, n_levels - 1)
    lo = np.floor(lv).astype(np.int32)
    w = (lv - lo)[:, :, None]
    stack = np.stack(samples)  # (L, H, W, 3)
    hi = np.minimum(lo + 1, n_levels - 1)
    rows, cols = np.indices(lo.shape)
    out = stack[lo, rows, cols] * (1 - w) + stack[hi, rows, cols] * w
    on_tex = cv2.remap(np.ones(tex.image.shape[:2], np.uint8), tu, tv, cv2.INTER_NEAREST,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    out[~on_tex] = stands[~on_tex]
    img = np.clip(out, 0, 255).astype(np.uint8)
    _draw_goals(img, cam)
    return img


def _draw_goals(img: np.ndarray, cam: Camera) -> None:
    for seg in goal_segments():
        dense = np.concatenate([np.linspace(a, b, 40) for a, b in zip(seg[:-1], seg[1:])])
        uv, z = cam.project(dense)
        ok = (z > 0.5) & np.all(np.isfinite(uv), axis=1)
        if ok.sum() < 2:
            continue
        thick = max(1, int(round(cam.K[0, 0] * 0.12 / np.median(z[ok]))))
        pts = np.round(uv[ok] * 16).astype(np.int32)
        cv2.polylines(img, [pts], False, (245, 245, 245), thick, cv2.LINE_AA, shift=4)


@dataclass
class BallRender:
    uv: np.ndarray | None  # distorted pixel of the centre at frame time, None if behind / outside
    visible_fraction: float
    blur_px: float
    depth: float


def _ball_patch(cam: Camera, sub_xyz: np.ndarray, radius_m: float, ss: int = 3):
    """Supersampled ball coverage and shade over a patch: (x0, y0, alpha (h, w), shade (h, w)) or None."""
    uv, z = cam.project(sub_xyz)
    if np.any(z <= 0.3) or not np.all(np.isfinite(uv)):
        return None
    r = cam.K[0, 0] * radius_m / z  # (S,) projected radius, px
    lo = np.floor(np.min(uv - r[:, None], axis=0) - 2).astype(int)
    hi = np.ceil(np.max(uv + r[:, None], axis=0) + 2).astype(int)
    if np.any(hi < 0) or hi[0] - lo[0] > 400 or hi[1] - lo[1] > 400 or lo[0] > cam.width or lo[1] > cam.height:
        return None
    w, h = hi - lo
    gx = lo[0] + (np.arange(w * ss) + 0.5) / ss - 0.5  # sub-pixel centres
    gy = lo[1] + (np.arange(h * ss) + 0.5) / ss - 0.5
    cov = np.zeros((h * ss, w * ss))
    shade = np.zeros((h * ss, w * ss))
    for (u, v), rk in zip(uv, r):
        dx, dy = (gx[None, :] - u) / rk, (gy[:, None] - v) / rk
        d2 = dx * dx + dy * dy
        inside = d2 < 1.0
        nz = np.sqrt(np.clip(1 - d2, 0, 1))
        lam = np.clip(-0.45 * dx - 0.55 * dy + 0.7 * nz, 0, 1)
        cov += inside
        shade += inside * (0.45 + 0.55 * lam)
    S = len(r)
    cov = cov.reshape(h, ss, w, ss).mean(axis=(1, 3)) / S
    shade = shade.reshape(h, ss, w, ss).mean(axis=(1, 3)) / S
    return lo[0], lo[1], cov, shade / np.maximum(cov, 1e-9)


def _player_polys(cam: Camera, xy: np.ndarray, height: float, team: int):
    """Polygons (colour, int32 points with 4 fractional bits) of one player, plus its depth."""
    foot, head = np.array([xy[0], xy[1], 0.0]), np.array([xy[0], xy[1], height])
    pts3 = np.array([foot, foot + [0, 0, 0.5 * height], foot + [0, 0, 0.82 * height], foot + [0, 0, 0.91 * height], head])
    uv, z = cam.project(pts3)
    if np.any(z <= 0.5) or not np.all(np.isfinite(uv)):
        return None, z[0]
    axis = uv[-1] - uv[0]
    perp = np.array([-axis[1], axis[0]]) / max(np.linalg.norm(axis), 1e-6)
    half = cam.K[0, 0] * 0.22 / z[0]
    quad = lambda a, b, hw: np.array([a + perp * hw, b + perp * hw, b - perp * hw, a - perp * hw])  # noqa: E731
    head_r = cam.K[0, 0] * HEAD_R_M / z[3]
    polys = [(SHORTS_BGR, quad(uv[0], uv[1], half * 0.8)), (TEAM_BGR[team], quad(uv[1], uv[2], half)),
             (SKIN_BGR, cv2.ellipse2Poly((0, 0), (1, 1), 0, 0, 360, 30) * head_r + uv[3])]
    return [(c, np.round(p * 16).astype(np.int32)) for c, p in polys], z[0]


def _fill(img, polys, offset=(0, 0), colour=None):
    for c, p in polys:
        q = p - np.array(offset, np.int32) * 16
        cv2.fillPoly(img, [q], colour if colour is not None else c, cv2.LINE_AA, shift=4)


def render_frame(cam: Camera, background: np.ndarray, sub_xyz: np.ndarray, radius_m: float,
                 players_xy: np.ndarray, teams: np.ndarray, heights: np.ndarray) -> tuple[np.ndarray, BallRender]:
    """One clean frame (H, W, 3) uint8 and the ball's ground truth in this camera."""
    img = background.copy()
    mid = sub_xyz[len(sub_xyz) // 2]
    uvc, zc = cam.project(mid[None])
    players = [_player_polys(cam, players_xy[p], heights[p], int(teams[p])) for p in range(len(teams))]
    players = sorted([pl for pl in players if pl[0] is not None], key=lambda pl: -pl[1])
    far = [pl for pl in players if pl[1] >= zc[0]]
    near = [pl for pl in players if pl[1] < zc[0]]
    for polys, _ in far:
        _fill(img, polys)
    patch = _ball_patch(cam, sub_xyz, radius_m)
    visible = 0.0
    if patch is not None:
        x0, y0, alpha, shade = patch
        h, w = alpha.shape
        occ = np.zeros((h, w), np.uint8)
        for polys, _ in near:
            _fill(occ, polys, offset=(x0, y0), colour=255)
        ys, xs = slice(max(y0, 0), min(y0 + h, cam.height)), slice(max(x0, 0), min(x0 + w, cam.width))
        a = alpha[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0, None]
        if a.size:
            col = (np.array([225.0, 232.0, 235.0]) * shade[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0, None])
            region = img[ys, xs].astype(np.float64)
            img[ys, xs] = np.clip(region * (1 - a) + col * a + 0.5, 0, 255).astype(np.uint8)
            seen = a[:, :, 0] * (1 - occ[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] / 255.0)
            visible = float(seen.sum() / max(alpha.sum(), 1e-9))
    for polys, _ in near:
        _fill(img, polys)
    uv_sub, _ = cam.project(sub_xyz)
    blur = float(np.linalg.norm(uv_sub[-1] - uv_sub[0])) if np.all(np.isfinite(uv_sub)) else 0.0
    u = uvc[0]
    inside = zc[0] > 0 and np.all(np.isfinite(u)) and 0 <= u[0] < cam.width and 0 <= u[1] < cam.height
    return img, BallRender(uv=u if inside else None, visible_fraction=min(visible, 1.0), blur_px=blur, depth=float(zc[0]))


class Sensor:
    """Sensor model of one camera: gain (low light) and signal-dependent noise from a fixed noise bank."""

    def __init__(self, shape, rng: np.random.Generator, low_light: bool, gain: float, read_noise: float,
                 shot_noise: float, bank: int = 6):
        self.low_light, self.gain = low_light, gain
        self.read, self.shot = read_noise, shot_noise
        self.bank = [np.clip(rng.normal(0, 32, shape), -127, 127).astype(np.int8) for _ in range(bank)]  # unit noise x32
        self.rng = rng

    def apply(self, img: np.ndarray) -> np.ndarray:
        noise = self.bank[self.rng.integers(len(self.bank))].astype(np.float32) / 32.0  # (H, W, 3) ~ N(0, 1)
        sig = img.astype(np.float32) * (self.gain if self.low_light else 1.0)
        sigma = np.sqrt(self.read**2 + self.shot * sig)
        return np.clip(sig + sigma * noise + 0.5, 0, 255).astype(np.uint8)
