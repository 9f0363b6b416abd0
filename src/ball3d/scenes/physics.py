"""Ball and player motion: gravity, quadratic air drag, bounces with restitution, rolling, kicks.

The ball is integrated with semi-implicit Euler on a fine time step; positions at any time
(frame centres and sub-frame samples for motion blur) come from linear interpolation of the
fine trajectory. Players walk towards waypoints; a few chase the ball, which yields occlusions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ball3d.constants import BALL_RADIUS_M, GRAVITY_MPS2, RHO_AIR_KGM3
from ball3d.pitch import LENGTH, WIDTH

G = GRAVITY_MPS2  # m/s^2
RHO_AIR = RHO_AIR_KGM3  # kg/m^3


@dataclass(frozen=True)
class BallPhysics:
    radius_m: float = BALL_RADIUS_M
    mass_kg: float = 0.43
    drag_coeff: float = 0.25  # quadratic drag coefficient Cd
    restitution: float = 0.6  # vertical speed kept after a bounce
    bounce_friction: float = 0.8  # horizontal speed kept after a bounce
    rolling_decel: float = 0.6  # m/s^2 rolling resistance on grass
    kick_rate_hz: float = 0.6  # mean kicks per second (Poisson)
    kick_speed: tuple[float, float] = (8.0, 28.0)  # m/s
    kick_elevation_deg: tuple[float, float] = (0.0, 40.0)
    play_area: tuple[float, float] = (38.0, 26.0)  # |x|, |y| box that kicks aim into, metres
    dribble_prob: float = 0.5  # probability that a kick is a dribbling touch along the ground
    dribble_speed: tuple[float, float] = (2.0, 6.0)  # m/s of a dribbling touch (players keep up with it)


@dataclass(frozen=True)
class Trajectory:
    t: np.ndarray  # (N,) seconds
    xyz: np.ndarray  # (N, 3) metres
    kicks: list[float]  # kick times, seconds

    def at(self, times: np.ndarray) -> np.ndarray:
        """Positions (M, 3) at ``times`` (M,), linearly interpolated."""
        times = np.asarray(times, dtype=np.float64)
        return np.stack([np.interp(times, self.t, self.xyz[:, k]) for k in range(3)], axis=1)


def _kick(rng, pos, phys: BallPhysics) -> np.ndarray:
    if phys.dribble_prob > 0 and rng.random() < phys.dribble_prob:  # a touch along the ground
        a, speed = rng.uniform(0, 2 * np.pi), rng.uniform(*phys.dribble_speed)
        return np.array([speed * np.cos(a), speed * np.sin(a), 0.0])
    ax, ay = phys.play_area
    target = np.array([rng.uniform(-ax, ax), rng.uniform(-ay, ay)])
    d = target - pos[:2]
    d /= max(np.linalg.norm(d), 1e-6)
    speed = rng.uniform(*phys.kick_speed)
    elev = np.deg2rad(rng.uniform(*phys.kick_elevation_deg))
    return np.array([d[0] * speed * np.cos(elev), d[1] * speed * np.cos(elev), speed * np.sin(elev)])


def _step(p, v, dt, phys: BallPhysics):
    r = phys.radius_m
    area = np.pi * r * r
    on_ground = p[2] <= r + 1e-4 and abs(v[2]) < 0.5
    if on_ground:  # rolling: no vertical motion, rolling resistance against the velocity
        v[2] = 0.0
        speed = np.hypot(v[0], v[1])
        if speed > 0:
            dec = min(speed, phys.rolling_decel * dt)
            v[:2] *= (speed - dec) / speed
        p[2] = r
    else:
        speed = np.linalg.norm(v)
        acc = -0.5 * RHO_AIR * phys.drag_coeff * area * speed * v / phys.mass_kg
        acc[2] -= G
        v += acc * dt
    p += v * dt
    if p[2] < r:  # bounce with restitution and friction
        p[2] = r
        if v[2] < 0:
            v[2] = -phys.restitution * v[2]
            v[:2] *= phys.bounce_friction
    return p, v


def simulate_ball(rng: np.random.Generator, duration_s: float, dt: float, phys: BallPhysics) -> Trajectory:
    """Ball trajectory from a random start with kicks at Poisson times; an opening kick at t=0."""
    ax, ay = phys.play_area
    p = np.array([rng.uniform(-ax, ax) * 0.6, rng.uniform(-ay, ay) * 0.6, phys.radius_m])
    v = _kick(rng, p, phys)
    n = int(np.ceil(duration_s / dt)) + 2
    ts = np.arange(n) * dt
    xyz = np.empty((n, 3))
    kicks = [0.0]
    next_kick = rng.exponential(1.0 / phys.kick_rate_hz)
    for i, t in enumerate(ts):
        xyz[i] = p
        if t >= next_kick and p[2] < 1.0:
            v = _kick(rng, p, phys)
            kicks.append(float(t))
            next_kick = t + max(0.4, rng.exponential(1.0 / phys.kick_rate_hz))
        if abs(p[0]) > LENGTH / 2 + 3 or abs(p[1]) > WIDTH / 2 + 3:  # out of play: kicked back in
            v = _kick(rng, p, phys)
            kicks.append(float(t))
        p, v = _step(p, v, dt, phys)
    return Trajectory(t=ts, xyz=xyz, kicks=kicks)


@dataclass(frozen=True)
class Players:
    xy: np.ndarray  # (T, P, 2) metres, position at each frame
    team: np.ndarray  # (P,) 0 / 1 / 2 (referee)
    height_m: np.ndarray  # (P,)


def simulate_players(rng: np.random.Generator, n_players: int, n_chasers: int, ball_xy: np.ndarray,
                     fps: float, speed_ms: float = 6.0, orbit_rad_s: float = 0.0) -> Players:
    """Players walking to random waypoints; the first ``n_chasers`` run towards the ball.

    Each chaser aims at its own spot 0.4-1.5 m from the ball that turns around the ball at a
    random angular speed in [-orbit_rad_s, orbit_rad_s] (jostling players), so the chasers sweep
    through the cameras' lines of sight and occlude the ball in turn rather than one camera forever.
    """
    T = ball_xy.shape[0]
    ax, ay = LENGTH / 2 - 5, WIDTH / 2 - 3
    pos = np.stack([rng.uniform(-ax, ax, n_players), rng.uniform(-ay, ay, n_players)], axis=1)  # (P, 2)
    pos[:n_chasers] = ball_xy[0] + rng.normal(0, 1.5, (min(n_chasers, n_players), 2))
    goal = np.stack([rng.uniform(-ax, ax, n_players), rng.uniform(-ay, ay, n_players)], axis=1)
    xy = np.empty((T, n_players, 2))
    dt = 1.0 / fps
    ang = rng.uniform(0, 2 * np.pi, n_chasers)
    radius = rng.uniform(0.4, 1.5, n_chasers)  # (C,) m
    omega = rng.uniform(-orbit_rad_s, orbit_rad_s, n_chasers) if orbit_rad_s > 0 else np.zeros(n_chasers)
    for f in range(T):
        xy[f] = pos
        a = ang + omega * f * dt  # (C,)
        offset = radius[:, None] * np.stack([np.cos(a), np.sin(a)], axis=1)  # (C, 2) m
        goal[:n_chasers] = ball_xy[f] + offset[:len(goal[:n_chasers])]  # crowd around the ball
        d = goal - pos  # (P, 2)
        dist = np.linalg.norm(d, axis=1, keepdims=True)
        step = np.minimum(dist, speed_ms * dt) * d / np.maximum(dist, 1e-6)
        pos = pos + step
        arrived = dist[:, 0] < 0.5
        arrived[:n_chasers] = False
        goal[arrived] = np.stack([rng.uniform(-ax, ax, arrived.sum()), rng.uniform(-ay, ay, arrived.sum())], axis=1)
    team = np.array([i % 2 for i in range(n_players)])
    if n_players > 2:
        team[-1] = 2
    return Players(xy=xy, team=team, height_m=rng.uniform(1.7, 1.92, n_players))
