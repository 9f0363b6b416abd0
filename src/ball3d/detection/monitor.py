"""Lost-track monitor of the roi3d loop: per-frame evidence in, verdict and reason out.

The ROI crops of mode roi3d are centred on the projection of the 3D track, so a track that locks
onto a look-alike (two players' heads consistent in two cameras) feeds itself: every camera looks
only around the wrong point and the ball is never seen again. The monitor weighs, per frame, what
the cameras say about the frame's 3D fix:
- ``agree``: cameras supporting the fix (its inliers);
- ``visible``: cameras whose image contains the fix's projection (where the ball, if the fix were
  right, should be seen unless occluded);
- ``disagree``: cameras whose confident top peak lies outside the association gate around the fix;
- physical plausibility: the step from the previous fix (no ball moves faster than ``max_speed_ms``),
  and gravity: ``hover_frames`` consecutive fixes above ``airborne_m`` whose height fits a smooth
  curve (RMS < 0.1 m) with a vertical acceleration of magnitude below ``hover_max_accel_mps2`` (an
  upward curvature is a kick or a bounce inside the run, i.e. a ball) and a mean vertical speed
  below ``hover_max_vz_ms`` are an object that hovers (a head, a shirt, a crossbar),
  not a ball in flight (which falls at g, ball3d.constants.GRAVITY_MPS2). The speed condition keeps
  the check to the part of a flight where air drag cannot hide gravity: drag opposes the velocity,
  so a ball falling fast accelerates downwards at well under g (at 20 m/s about 4 m/s^2), while near
  its apex (vertical speed ~0) it falls at g whatever its horizontal speed.
  A hover loss **retracts** the fixes of the hovering run (``Verdict.retract``: frame -> fix, all
  reported and all wrong) and hands over the object (``Verdict.hovering``) so that the loop bans it
  for as long as it keeps being seen (``ball3d.detection.roi3d``).
Evidence is pooled over the last ``window`` frames with a fix: the track is declared **lost**
when the pooled share of agreeing views falls below ``min_agree_frac`` or disagreeing cameras
outnumber ``max_disagree`` per frame; the loop then re-acquires (``ball3d.detection.roi3d``).
On a full-frame pass (re-acquisition, or the periodic safety net) the loop also hands over the
best hypothesis *away from* the track (``alt_xyz``): when it has ``switch_margin`` more agreeing
views than the track's own fix (and at least ``switch_min_views``), the verdict is **switch**
(the track moves to it at once).
A single frame whose own evidence is against its fix (too few agreeing views, more disagreeing
than agreeing cameras, an implausible step) is **doubtful**: its fix is not reported (a wrong fix
is worse than a missing one) and the reason says why.

The monitor holds no camera, image or network: ``TrackMonitor.step(Evidence) -> Verdict`` is the
whole API, so a live tracker can drive it frame by frame.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ball3d.constants import GRAVITY_MPS2

TRACKING, DOUBT, LOST, SWITCH, SEARCH = "tracking", "doubt", "lost", "switch", "search"


@dataclass
class MonitorConfig:
    enabled: bool = True  # false: never declare the track lost (roi3d before issue 16)
    window: int = 8  # frames with a fix whose evidence is pooled
    min_frames: int = 4  # fixes in the window before a loss can be declared
    min_agree_frac: float = 0.5  # pooled agreeing views / cameras that should see the ball, below -> lost
    max_disagree: float = 1.0  # pooled confident disagreeing cameras per frame, above -> lost
    max_speed_ms: float = 40.0  # faster steps between consecutive fixes are implausible, m/s
    speed_slack_m: float = 0.5  # triangulation error allowed on top of the speed limit, metres
    search_frames: int = 2  # frames run on the full frame in every camera after a loss
    hover_frames: int = 8  # airborne fixes in a row checked against gravity (0 = no check)
    airborne_m: float = 0.5  # ball centres higher than this are in the air, metres
    hover_max_accel_mps2: float = 4.0  # airborne fixes falling slower than this hover (a ball falls at 9.8), m/s^2
    hover_max_vz_ms: float = 0.5  # ... when their mean vertical speed is below this (drag slows a fast fall), m/s
    ban_frames: int = 50  # a hovering object stays banned until it has not been seen for this many frames
    switch_margin: int = 1  # a full-frame hypothesis away from the track with this many more views takes over
    switch_min_views: int = 3  # ... and with at least this many (two views agree by coincidence too often)

    def __post_init__(self):
        if self.window < 1 or not 1 <= self.min_frames <= self.window:
            raise ValueError(f"monitor: need 1 <= min_frames <= window, got min_frames {self.min_frames}, "
                             f"window {self.window}")
        if not 0.0 <= self.min_agree_frac <= 1.0:
            raise ValueError(f"monitor: min_agree_frac must lie in [0, 1], got {self.min_agree_frac}")
        if self.search_frames < 1:
            raise ValueError(f"monitor: search_frames must be >= 1, got {self.search_frames}")
        if self.hover_frames < 0:
            raise ValueError(f"monitor: hover_frames must be >= 0, got {self.hover_frames}")
        if self.hover_max_vz_ms <= 0:
            raise ValueError(f"monitor: hover_max_vz_ms must be > 0, got {self.hover_max_vz_ms}")
        if self.ban_frames < 0:
            raise ValueError(f"monitor: ban_frames must be >= 0, got {self.ban_frames}")


@dataclass
class Evidence:
    """What the cameras of one frame say about its 3D fix."""
    frame: int
    xyz: np.ndarray | None  # (3,) the frame's fix in metres, None without one
    agree: int = 0  # cameras supporting the fix
    visible: int = 0  # cameras whose image contains the fix's projection
    disagree: int = 0  # cameras whose confident top candidate lies outside the gate around the fix
    alt_xyz: np.ndarray | None = None  # full-frame passes: the best hypothesis away from the track, metres
    alt_agree: int = 0  # cameras supporting it


@dataclass
class Verdict:
    state: str  # tracking | doubt (fix not reported) | lost (re-acquire) | switch (to alt_xyz) | search (re-acquiring)
    report: bool  # whether the frame's fix may be reported
    reason: str = ""  # why not (empty when reported)
    retract: dict = field(default_factory=dict)  # hover loss: frame -> (3,) fix of the hovering run (reported, wrong)
    hovering: np.ndarray | None = None  # hover loss: (3,) the hovering object's last position, metres


@dataclass
class TrackMonitor:
    """Consistency monitor of one 3D track (see the module docstring)."""
    cfg: MonitorConfig
    fps: float  # frames per second
    history: deque = field(default_factory=deque)  # (agree, visible, disagree) of the last fixes
    last: tuple | None = None  # (frame, xyz) of the last reported fix
    heights: list = field(default_factory=list)  # (frame, (3,) xyz) of the current run of airborne reported fixes

    def reset(self) -> None:
        """Forget the evidence (after a loss: the new track starts clean)."""
        self.history.clear()
        self.heights.clear()
        self.last = None

    def _hovers(self, ev: Evidence) -> str:
        """Gravity check of the run of airborne fixes ending at ``ev`` ("" when it passes)."""
        z = float(ev.xyz[2])
        if z <= self.cfg.airborne_m or (self.heights and ev.frame - self.heights[-1][0] > 2):
            self.heights.clear()  # on the ground, or a gap: a new flight
        if z > self.cfg.airborne_m:
            self.heights = (self.heights + [(ev.frame, np.asarray(ev.xyz, float).copy())])[-self.cfg.hover_frames:]
        if self.cfg.hover_frames < 3 or len(self.heights) < self.cfg.hover_frames:
            return ""
        t = np.array([f for f, _ in self.heights], float)
        h = np.array([x[2] for _, x in self.heights], float)
        t = (t - t[0]) / self.fps  # seconds
        coef, res, *_ = np.polyfit(t, h, 2, full=True)
        rms = float(np.sqrt(res[0] / len(t))) if len(res) else 0.0
        accel = 2.0 * float(coef[0])  # m/s^2
        vz = float(h[-1] - h[0]) / max(float(t[-1]), 1e-9)  # mean vertical speed, m/s
        if abs(accel) < self.cfg.hover_max_accel_mps2 and rms < 0.1 and abs(vz) < self.cfg.hover_max_vz_ms:
            return (f"{len(t)} airborne fixes at {h.mean():.2f} m with vertical acceleration {accel:.1f} m/s^2 "
                    f"and vertical speed {vz:.1f} m/s: hovers (a ball falls at {GRAVITY_MPS2:.1f})")
        return ""

    def _implausible(self, ev: Evidence) -> str:
        if self.last is None:
            return ""
        gap = ev.frame - self.last[0]
        step = float(np.linalg.norm(ev.xyz - self.last[1]))
        limit = self.cfg.max_speed_ms * gap / self.fps + self.cfg.speed_slack_m
        return f"step of {step:.2f} m in {gap} frame(s) exceeds {limit:.2f} m" if step > limit else ""

    def step(self, ev: Evidence) -> Verdict:
        """The verdict on frame ``ev.frame`` (call once per frame, in order)."""
        if (self.cfg.enabled and ev.alt_xyz is not None and ev.alt_agree >= ev.agree + self.cfg.switch_margin
                and ev.alt_agree >= self.cfg.switch_min_views):
            self.reset()
            self.last = (ev.frame, np.asarray(ev.alt_xyz, float).copy())
            return Verdict(SWITCH, True, f"full frame: a hypothesis away from the track has {ev.alt_agree} views, "
                                         f"the track {ev.agree}")
        if ev.xyz is None:
            return Verdict(TRACKING, False, "no 3D fix")
        own = self._frame_doubt(ev)
        jump = self._implausible(ev)
        hover = self._hovers(ev) if not jump else ""
        self.history.append((ev.agree, ev.visible, ev.disagree))
        while len(self.history) > self.cfg.window:
            self.history.popleft()
        if not self.cfg.enabled:  # an observer only: every fix is reported and followed
            self.last = (ev.frame, np.asarray(ev.xyz, float).copy())
            return Verdict(TRACKING, True)
        if hover:  # every fix of the run was on the hovering object: retract them, hand it over for a ban
            run = dict(self.heights)
            return Verdict(LOST, False, hover, retract=run, hovering=np.asarray(ev.xyz, float).copy())
        lost = self._pooled_loss()
        if lost:
            return Verdict(LOST, False, lost)
        if jump or own:
            return Verdict(DOUBT, False, jump or own)
        self.last = (ev.frame, np.asarray(ev.xyz, float).copy())
        return Verdict(TRACKING, True)

    def _frame_doubt(self, ev: Evidence) -> str:
        if ev.disagree > ev.agree:
            return f"{ev.disagree} camera(s) disagree, {ev.agree} agree"
        if ev.visible and ev.agree / ev.visible < self.cfg.min_agree_frac and ev.disagree > 0:
            return f"{ev.agree} of {ev.visible} cameras agree and {ev.disagree} disagree"
        return ""

    def _pooled_loss(self) -> str:
        if len(self.history) < self.cfg.min_frames:
            return ""
        agree, visible, disagree = (float(v) for v in np.sum(list(self.history), axis=0))
        n = len(self.history)
        if visible > 0 and agree / visible < self.cfg.min_agree_frac:
            return f"over {n} frames {agree:.0f} of {visible:.0f} expected views agree (< {self.cfg.min_agree_frac:g})"
        if disagree / n > self.cfg.max_disagree:
            return f"over {n} frames {disagree / n:.1f} cameras per frame disagree (> {self.cfg.max_disagree:g})"
        return ""
