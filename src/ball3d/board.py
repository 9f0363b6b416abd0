"""Calibration video of a chessboard moved in front of a camera (rendered with exact lens distortion).

Every pixel's undistorted ray is intersected with the board plane (a homography from the
normalised image plane to board coordinates) and the board texture is sampled there. The
board sweeps across the image (corners included, which constrains distortion) with tilts of up
to ``max_tilt_deg``; a fraction of frames gets a motion-blur streak so that view rejection is
exercised.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera import Camera
from .rig import undistort_grid


@dataclass(frozen=True)
class Board:
    cols: int = 9  # inner corners along the board's x axis
    rows: int = 6  # inner corners along the board's y axis
    square_m: float = 0.1

    def object_points(self) -> np.ndarray:
        """(rows*cols, 3) inner-corner coordinates on the board plane, metres, OpenCV order."""
        g = np.mgrid[0:self.cols, 0:self.rows].T.reshape(-1, 2)
        return np.hstack([g * self.square_m, np.zeros((len(g), 1))]).astype(np.float32)

    def texture(self, px_per_square: int = 32) -> tuple[np.ndarray, float]:
        """Grey image of the board with a one-square white margin; returns (image, texels per metre)."""
        nx, ny = self.cols + 1, self.rows + 1  # squares
        sq = px_per_square
        img = np.full(((ny + 2) * sq, (nx + 2) * sq), 235, np.uint8)
        for j in range(ny):
            for i in range(nx):
                if (i + j) % 2 == 0:
                    img[(j + 1) * sq:(j + 2) * sq, (i + 1) * sq:(i + 2) * sq] = 25
        return img, sq / self.square_m


def _euler(rx, ry, rz) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def board_poses(cam: Camera, board: Board, n_frames: int, rng: np.random.Generator,
                max_tilt_deg: float = 35.0, fill: tuple[float, float] = (0.25, 0.45)) -> list[tuple[np.ndarray, np.ndarray]]:
    """Board-to-camera (R, t) per frame: smooth interpolation between random key poses."""
    bw, bh = (board.cols + 1) * board.square_m, (board.rows + 1) * board.square_m
    n_keys = max(3, n_frames // 4)
    keys = []
    for k in range(n_keys):
        frac = rng.uniform(*fill)
        depth = cam.K[0, 0] * bw / (frac * cam.width)
        gx, gy = rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.7)
        if k % 3 == 0:  # push towards an image corner now and then (constrains distortion)
            gx, gy = rng.choice([0.22, 0.78]), rng.choice([0.3, 0.7])
        centre = np.array([(gx * cam.width - cam.K[0, 2]) / cam.K[0, 0] * depth,
                           (gy * cam.height - cam.K[1, 2]) / cam.K[1, 1] * depth, depth])
        ang = np.deg2rad(rng.uniform(-max_tilt_deg, max_tilt_deg, 2))
        keys.append((centre, np.r_[ang, np.deg2rad(rng.uniform(-20, 20))]))
    poses = []
    for f in range(n_frames):
        s = f / max(n_frames - 1, 1) * (n_keys - 1)
        i = min(int(s), n_keys - 2)
        a = s - i
        a = a * a * (3 - 2 * a)  # smoothstep between keys
        centre = keys[i][0] * (1 - a) + keys[i + 1][0] * a
        rx, ry, rz = keys[i][1] * (1 - a) + keys[i + 1][1] * a
        R = _euler(rx, ry, rz)
        t = centre - R @ np.array([bw / 2 - board.square_m, bh / 2 - board.square_m, 0.0])  # origin = first inner corner
        poses.append((R, t))
    return poses


def render_board_frame(xs: np.ndarray, ys: np.ndarray, tex: np.ndarray, tpm: float, board: Board,
                       R: np.ndarray, t: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Render the board at pose (R, t) over ``background`` (H, W) uint8; xs, ys: undistorted rays."""
    # plane point X = t + a * R[:,0] + b * R[:,1]; ray r = (x, y, 1): solve s r = X  ->  homography
    M = np.column_stack([R[:, 0], R[:, 1], t])  # board (a, b, 1) -> camera ray (x, y, 1) up to scale
    H = [[float(v) for v in row] for row in np.linalg.inv(M)]  # python floats keep float32 maths
    den = H[2][0] * xs + H[2][1] * ys + H[2][2]
    a = (H[0][0] * xs + H[0][1] * ys + H[0][2]) / den
    b = (H[1][0] * xs + H[1][1] * ys + H[1][2]) / den
    off = board.square_m * 2  # texture origin is two squares before the first inner corner
    mx = ((a + off) * tpm - 0.5).astype(np.float32)
    my = ((b + off) * tpm - 0.5).astype(np.float32)
    mx[den <= 0] = -1e6
    out = background.copy()
    cv2.remap(tex, mx, my, cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_TRANSPARENT)
    return out


def calibration_frames(cam: Camera, board: Board, n_frames: int, rng: np.random.Generator,
                       blur_fraction: float, noise_sigma: float):
    """Yield (H, W, 3) uint8 frames of the calibration video of ``cam``."""
    xs, ys = undistort_grid(cam)
    tex, tpm = board.texture(px_per_square=max(16, int(cam.width / 40)))
    yy, xx = np.mgrid[0:cam.height, 0:cam.width]
    bg = (90 + 40 * np.sin(xx / 97.0) * np.cos(yy / 61.0) + 20 * yy / cam.height).astype(np.uint8)  # wall
    bank = [np.clip(rng.normal(0, noise_sigma, bg.shape), -127, 127).astype(np.int16) for _ in range(4)]
    for R, t in board_poses(cam, board, n_frames, rng):
        img = render_board_frame(xs, ys, tex, tpm, board, R, t, bg)
        if rng.random() < blur_fraction:
            n = max(5, int(cam.width / 60))
            k = np.zeros((n, n), np.float32)
            cv2.line(k, (0, n // 2), (n - 1, n // 2 + int(rng.integers(-n // 3, n // 3 + 1))), 1.0, 1)
            img = cv2.filter2D(img, -1, k / k.sum())
        g = np.clip(img.astype(np.int16) + bank[int(rng.integers(len(bank)))], 0, 255).astype(np.uint8)
        yield cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
