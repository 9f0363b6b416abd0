"""Lost-track monitor of the roi3d loop: per-frame evidence in, verdict and reason out.

The ROI crops of mode roi3d are centred on the projection of the 3D track, so a track that locks
onto a look-alike (two players' heads consistent in two cameras) feeds itself: every camera looks
only around the wrong point and the ball is never seen again. The monitor weighs, per frame, what
the cameras say about the frame's 3D fix:
- ``agree``: cameras supporting the fix (its inliers);
- ``visible``: cameras whose image contains the fix's projection (where the ball, if the fix were
  right, should be seen unless occluded);
- ``disagree``: cameras whose confident top peak lies outside the association gate around the fix;
- the step from the previous fix (physical plausibility: no ball moves faster than ``max_speed_ms``).
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


@dataclass
class TrackMonitor:
    """Consistency monitor of one 3D track (see the module docstring)."""
    cfg: MonitorConfig
    fps: float  # frames per second
    history: deque = field(default_factory=deque)  # (agree, visible, disagree) of the last fixes
    last: tuple | None = None  # (frame, xyz) of the last reported fix

    def reset(self) -> None:
        """Forget the evidence (after a loss: the new track starts clean)."""
        self.history.clear()
        self.last = None

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
        self.history.append((ev.agree, ev.visible, ev.disagree))
        while len(self.history) > self.cfg.window:
            self.history.popleft()
        if not self.cfg.enabled:  # an observer only: every fix is reported and followed
            self.last = (ev.frame, np.asarray(ev.xyz, float).copy())
            return Verdict(TRACKING, True)
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
