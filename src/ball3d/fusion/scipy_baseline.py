"""The same ball problem as bundle._build, solved with scipy.optimize.least_squares (baseline).

Residuals, sigmas and initial values are those of the GTSAM graph with fixed cameras:
projection (pixels / pixel sigma), ballistic second differences (metres / (accel sigma dt^2)),
the ground prior of rolling frames and the weak prior of bridged frames. scipy's robust loss
acts per residual component, GTSAM's per factor; both use the same threshold. The Jacobian is
analytic and sparse (``jac="analytic"``) or finite differences with its sparsity pattern
(``jac="2-point"``, the usual way to run large problems with least_squares).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix

from .graph import BundleConfig, motion_terms, rolling


@dataclass
class ScipyProblem:
    oi: np.ndarray  # (n_obs,) column block of each observation
    oP: np.ndarray  # (n_obs, 3, 4) its camera
    ouv: np.ndarray  # (n_obs, 2) undistorted pixels
    weak: np.ndarray  # (n_weak,) blocks with a weak prior
    ground: np.ndarray  # (n_ground,) blocks with a ground prior
    t: np.ndarray  # (m, 3) blocks of each ballistic triple
    tg: np.ndarray  # (m,) gravity of each triple
    troll: np.ndarray  # (m,) rolling resistance of each triple
    x0: np.ndarray  # (n, 3) initial values (= weak prior means)
    cfg: BundleConfig
    dt: float

    def _motion(self, Xs):
        a, c = Xs[self.t[:, 0]], Xs[self.t[:, 2]]  # (m, 3)
        v = (c - a) / (2 * self.dt)
        speed = np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)  # (m, 1)
        return v, speed

    def residuals(self, flat: np.ndarray) -> np.ndarray:
        c, dt, t = self.cfg, self.dt, self.t
        Xs = flat.reshape(-1, 3)  # (n, 3)
        x = np.einsum("nij,nj->ni", self.oP[:, :, :3], Xs[self.oi]) + self.oP[:, :, 3]  # (n_obs, 3)
        r_proj = ((x[:, :2] / x[:, 2:3] - self.ouv) / c.pixel_sigma_px).ravel()
        r_weak = ((Xs[self.weak] - self.x0[self.weak]) / c.weak_prior_sigma_m).ravel()
        r_ground = (Xs[self.ground, 2] - c.ball_radius_m) / c.ground_sigma_m
        v, speed = self._motion(Xs)
        coef = c.drag_per_m * speed + self.troll[:, None] / speed  # (m, 1)
        e = Xs[t[:, 2]] - 2 * Xs[t[:, 1]] + Xs[t[:, 0]] + dt * dt * (coef * v + np.c_[np.zeros((len(t), 2)), self.tg])
        return np.concatenate([r_proj, r_weak, r_ground, (e / (c.accel_sigma_mps2 * dt * dt)).ravel()])

    def jacobian(self, flat: np.ndarray) -> coo_matrix:
        c, dt = self.cfg, self.dt
        Xs = flat.reshape(-1, 3)
        blocks = []  # (row offset, rows (k, r), block columns (k,), values (k, r, 3))
        x = np.einsum("nij,nj->ni", self.oP[:, :, :3], Xs[self.oi]) + self.oP[:, :, 3]  # (n_obs, 3)
        Jp = (self.oP[:, :2, :3] * x[:, 2:3, None] - x[:, :2, None] * self.oP[:, 2:3, :3]) / x[:, 2:3, None] ** 2
        blocks.append((self.oi, Jp / c.pixel_sigma_px))  # (n_obs, 2, 3)
        blocks.append((self.weak, np.broadcast_to(np.eye(3) / c.weak_prior_sigma_m, (len(self.weak), 3, 3))))
        blocks.append((self.ground, np.broadcast_to(np.array([[[0, 0, 1 / c.ground_sigma_m]]]), (len(self.ground), 1, 3))))
        v, speed = self._motion(Xs)
        vv = np.einsum("mi,mj->mij", v, v) / speed[:, :, None] ** 2  # (m, 3, 3)
        eye = np.eye(3)[None]
        da = (c.drag_per_m * speed)[:, :, None] * (eye + vv) + (self.troll[:, None] / speed)[:, :, None] * (eye - vv)
        s = 1.0 / (c.accel_sigma_mps2 * dt * dt)
        mot = [(self.t[:, 0], s * (eye - 0.5 * dt * da)), (self.t[:, 1], np.broadcast_to(-2 * s * eye, da.shape)),
               (self.t[:, 2], s * (eye + 0.5 * dt * da))]
        return _assemble(blocks, mot, 3 * len(Xs))


def _assemble(blocks, motion, n_cols: int) -> coo_matrix:
    """Stack per-block Jacobians (each block: one 3-column variable per residual group) into one sparse matrix."""
    rows, cols, vals, r0 = [], [], [], 0
    for idx, J in blocks:  # J (k, r, 3): residual group k depends on variable idx[k] only
        k, r, _ = J.shape
        rr = r0 + np.arange(k)[:, None, None] * r + np.arange(r)[None, :, None] + np.zeros((1, 1, 3), int)
        cc = 3 * np.asarray(idx)[:, None, None] + np.arange(3)[None, None, :] + np.zeros((1, r, 1), int)
        rows.append(rr.ravel())
        cols.append(cc.ravel())
        vals.append(np.asarray(J).ravel())
        r0 += k * r
    for idx, J in motion:  # three variables per motion residual group (3 rows each)
        k = len(idx)
        rr = r0 + np.arange(k)[:, None, None] * 3 + np.arange(3)[None, :, None] + np.zeros((1, 1, 3), int)
        cc = 3 * np.asarray(idx)[:, None, None] + np.arange(3)[None, None, :] + np.zeros((1, 3, 1), int)
        rows.append(rr.ravel())
        cols.append(cc.ravel())
        vals.append(np.asarray(J).ravel())
    n_rows = r0 + 3 * (len(motion[0][0]) if motion else 0)
    return coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, n_cols))


def build_problem(cameras, frames, obs, init, cfg: BundleConfig, dt: float, broken: set, fixed: set) -> ScipyProblem:
    col = {int(i): n for n, i in enumerate(frames)}
    ob = [(col[i], j, uv) for i in col for j, uv in obs.get(i, [])]
    trip = [(col[i] - 1, col[i], col[i] + 1, *motion_terms(init, i, cfg)) for i in col
            if cfg.motion_prior and i not in broken and i - 1 in col and i + 1 in col]
    P = np.stack([c.P for c in cameras])  # (V, 3, 4)
    return ScipyProblem(
        oi=np.array([o[0] for o in ob], int), oP=P[np.array([o[1] for o in ob], int)],
        ouv=np.array([o[2] for o in ob], float).reshape(-1, 2),
        weak=np.array([col[i] for i in col if i not in fixed], int),
        ground=np.array([col[i] for i in col if cfg.motion_prior and rolling(init, i, cfg)], int),
        t=np.array([tr[:3] for tr in trip], int).reshape(-1, 3), tg=np.array([tr[3] for tr in trip], float),
        troll=np.array([tr[4] for tr in trip], float), x0=np.array([init[int(i)] for i in frames], float),
        cfg=cfg, dt=dt)


def solve_scipy(cameras, frames, obs, init, cfg: BundleConfig, dt: float, broken: set, fixed: set,
                max_nfev: int = 100, jac: str = "analytic") -> tuple[np.ndarray, dict]:
    """Return positions (len(frames), 3) and solver info."""
    pb = build_problem(cameras, frames, obs, init, cfg, dt, broken, fixed)
    loss = "huber" if cfg.robust == "huber" else "cauchy" if cfg.robust == "cauchy" else "linear"
    kw = {"jac": pb.jacobian} if jac == "analytic" else {"jac": "2-point", "jac_sparsity": pb.jacobian(pb.x0.ravel()) != 0}
    res = least_squares(pb.residuals, pb.x0.ravel(), loss=loss, f_scale=cfg.robust_k, method="trf", x_scale="jac",
                        max_nfev=max_nfev, **kw)
    return res.x.reshape(-1, 3), {"nfev": int(res.nfev), "cost": float(res.cost), "status": int(res.status),
                                  "jac": jac}
