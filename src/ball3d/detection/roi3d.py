"""Detection mode ``roi3d``: every camera of a scene frame by frame, ROIs fed by the 3D track.

For frame t the ball's 3D position is predicted from the last 3D fixes (``Predictor3D``:
constant velocity, plus gravity while airborne), projected into every calibrated camera
(distorted full-resolution pixels, then ``CameraClip.to_det``) and the network runs on a crop
around that point. A weak crop there (best peak below ``track_threshold``) is kept: the ball is
occluded in that camera and the other cameras carry the track (``roi3d_fallback: true`` reruns
the full frame instead). A camera whose projection is unusable (no recent fix, behind the
camera, outside the image) falls back to its own 2D extrapolation and then to the full frame,
like mode ``roi``. Once all cameras of frame t have their candidates, the per-frame cross-camera
association (``ball3d.association.associate_frame``) gives the 3D fix that feeds frame t+1.
A camera whose confident top peak lies outside the re-association gate (``reassoc_gate_px``,
the association's "near the track" radius; ``gate_px`` is too tight for detector-pixel noise)
around that fix's projection forgets its 2D track: its next crop is centred on the 3D
prediction, or without one it runs the full frame (a false lock is never followed; forcing a
full frame while the 3D track is alive would cost a full pass and still centre the next crop on
the track). ``full_every`` still forces periodic full frames on every camera.
With a 3D fix, the scores of a camera's candidates that lie outside that gate are multiplied by
``disagree_factor`` and the candidates re-sorted: a player's head in the crop of a camera where
the ball is hidden no longer answers "ball" there (1 = scores left as the network gave them).

When the lost-track monitor finds the track hovering (a player's head: airborne and not falling,
``ball3d.detection.monitor``) the loop (1) retracts that run's detections: in every frame of the
run, each camera's candidates near the projection of that frame's wrong fix are dropped from the
output (a wrong fix is worse than a missing one; only where the frames are kept, ``keep=True``),
and (2) bans the object for as long as it keeps being seen: a fix within ``HOVER_BAN_DZ_M`` of its
height and within a player's reach of its last position (``PLAYER_SPEED_MS`` per second unseen, at
most ``BAN_REACH_MAX_M``) is
that object again, so its candidates are removed and the frame re-associated without them; the ban
ends ``monitor.ban_frames`` frames after the object was last seen. Other losses ban the lost
position for one search (``monitor.search_frames`` + ``window`` frames), as before.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ball3d.association import AssocConfig, FrameFix, associate_frame, pad_candidates
from ball3d.camera import Camera
from ball3d.constants import BALL_RADIUS_M, GRAVITY_MPS2
from pipeutil.config import from_params
from ball3d.triangulate import project
from pipeutil.io import PipelineError

from .infer import DetectParams, confident, detect_frame, extrapolate, to_full_res
from .inputs import CameraClip
from .monitor import (
    DOUBT,
    LOST,
    SEARCH,
    SWITCH,
    TRACKING,
    Evidence,
    TrackMonitor,
    Verdict,
)
from .network import HeatmapNet

log = logging.getLogger(__name__)

PLAYER_SPEED_MS = 9.0  # fastest a banned hovering object (a player's head) moves between sightings, m/s
BAN_REACH_MAX_M = 5.0  # ... but it is looked for no farther than this from its last sighting, metres
HOVER_BAN_DZ_M = 0.3  # a fix this close to a banned hovering object's height (and within reach) is that object, metres


@dataclass
class Predictor3D:
    """Ball position at frame t from the last two 3D fixes: ballistic while airborne, else constant velocity."""
    fps: float  # frames per second of the scene
    max_age: int  # frames a prediction may coast after the last fix (detect.max_gap)
    ball_radius_m: float = BALL_RADIUS_M  # centre height of a ball on the ground, metres
    ground_tol_m: float = 0.05  # fixes below radius + this are on the ground (no gravity), metres
    reset_m: float = 2.0  # a fix this far from the prediction (kick, bounce, bad fix) restarts the track, metres
    fixes: list = field(default_factory=list)  # [(frame, xyz (3,))], the last two

    def predict(self, t: int) -> np.ndarray | None:
        """(3,) predicted centre in metres, or None without a fix in the last ``max_age`` frames."""
        if not self.fixes or t - self.fixes[-1][0] > self.max_age:
            return None
        t1, p1 = self.fixes[-1]
        if len(self.fixes) == 1:
            return p1.copy()
        t0, p0 = self.fixes[-2]
        d01, s = (t1 - t0) / self.fps, (t - t1) / self.fps  # seconds
        airborne = max(p0[2], p1[2]) > self.ball_radius_m + self.ground_tol_m
        g = GRAVITY_MPS2 if airborne else 0.0
        v = (p1 - p0) / d01  # (3,) mean velocity over [t0, t1]; at t1 it is lower in z by g * d01 / 2
        v[2] -= 0.5 * g * d01
        x = p1 + v * s
        x[2] = max(x[2] - 0.5 * g * s * s, self.ball_radius_m)  # the ball does not sink into the pitch
        return x

    def update(self, t: int, xyz: np.ndarray) -> None:
        """Add the fix of frame t (a jump farther than ``reset_m`` from the prediction restarts the track)."""
        pred = self.predict(t)
        xyz = np.asarray(xyz, np.float64).copy()
        if pred is None or np.linalg.norm(xyz - pred) > self.reset_m:
            self.fixes = [(t, xyz)]
        else:
            self.fixes = (self.fixes + [(t, xyz)])[-2:]


def roi_centres(cams: list[Camera], clips: list[CameraClip], xyz: np.ndarray | None,
                margin_px: float) -> list[np.ndarray | None]:
    """Projection of xyz into each camera in detector px, or None (no xyz, behind the camera, or
    farther than ``margin_px`` detector pixels outside the frame).

    The pinhole projection is checked first: far outside the field of view the distortion
    polynomial folds points back into the image."""
    out: list[np.ndarray | None] = []
    for cam, clip in zip(cams, clips):
        out.append(None if xyz is None else _centre_in(cam, clip, np.asarray(xyz, np.float64), margin_px))
    return out


def _inside(uv: np.ndarray, size: tuple[int, int], margin: float) -> bool:
    return bool(np.all(np.isfinite(uv)) and -margin <= uv[0] <= size[0] - 1 + margin
                and -margin <= uv[1] <= size[1] - 1 + margin)


def _centre_in(cam: Camera, clip: CameraClip, xyz: np.ndarray, margin_px: float) -> np.ndarray | None:
    m_full = margin_px * cam.width / clip.det_size[0]  # the margin in full-resolution px
    ideal, depth = cam.project(xyz[None], distort=False)  # (1, 2) pinhole px, (1,)
    if depth[0] <= 0 or not _inside(ideal[0], (cam.width, cam.height), 2 * m_full):
        return None
    uv, _ = cam.project(xyz[None])  # (1, 2) distorted full-res px: what clip.to_det expects
    c = clip.to_det(uv)[0]  # (2,) detector px (undistorted for pre-processed clips)
    return c if _inside(c, clip.det_size, margin_px) else None


def assoc_config(params: dict | None, width: int) -> AssocConfig:
    """AssocConfig from params.yaml bundle.association, pixel gates scaled by width / 1920 (as the bundle does)."""
    cfg = from_params(AssocConfig, params, "params.yaml: bundle.association")
    s = width / 1920.0
    return replace(cfg, gate_px=cfg.gate_px * s, reassoc_gate_px=cfg.reassoc_gate_px * s)


@dataclass
class CamState:
    """Per-camera tracking state and run statistics of the synchronous loop."""
    history: list = field(default_factory=list)  # [(frame, (2,) detector px)] last two confident peaks
    seconds: float = 0.0  # time spent on this camera's network passes and peak extraction
    stats: dict = field(default_factory=lambda: {"full_frames": 0, "roi_frames": 0, "fallbacks": 0,
                                                 "roi_from_3d": 0, "roi_from_2d": 0, "weak_kept": 0,
                                                 "disagreements": 0})
    rows: dict = field(default_factory=dict)  # frame -> [[u, v, score], ...] full-res
    cands: dict = field(default_factory=dict)  # frame -> (n, 3) detector px


@contextlib.contextmanager
def _quiet(name: str):
    """Silence a logger's warnings (pad_candidates warns on a camera without detections: per frame, that is normal)."""
    lg = logging.getLogger(name)
    old = lg.level
    lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        lg.setLevel(old)


def _centre(st: CamState, proj: np.ndarray | None, t: int, p: DetectParams) -> tuple[np.ndarray | None, bool]:
    """ROI centre of one camera for frame t and whether it is the 3D projection: the projection,
    else the camera's 2D extrapolation, else None (full frame)."""
    if p.full_every > 0 and t % p.full_every == 0:
        return None, False
    if proj is not None:
        st.stats["roi_from_3d"] += 1
        return proj, True
    c = extrapolate(st.history, t, p.max_gap)
    if c is not None:
        st.stats["roi_from_2d"] += 1
    return c, False


def check_agreement(states: list[CamState], cams: list[Camera], clips: list[CameraClip], fix: FrameFix,
                     t: int, gate_px: float, p: DetectParams) -> int:
    """Update the 2D histories; a confident top peak outside the gate around the 3D fix is a false
    lock: that camera forgets its 2D track, so without a 3D prediction it runs its full frame next.
    Returns the number of cameras that contradict the fix: a confident top peak outside the gate and
    no candidate at all inside it (a brighter look-alike elsewhere in a full frame does not count
    while the camera also detects something where the fix says the ball is)."""
    n = 0
    for st, cam, clip in zip(states, cams, clips):
        if fix.xyz is not None and p.disagree_factor != 1.0:
            rescore(st, cam, clip, fix.xyz, t, gate_px, p.disagree_factor)
        cands = st.cands[t]
        if not confident(cands, p):
            continue
        if fix.xyz is not None:
            uv, _ = cam.project(fix.xyz[None])  # (1, 2) distorted full-res px
            d = np.linalg.norm(clip.to_full(cands[:, :2]) - uv[0], axis=1)  # (n,) NaN when not projectable
            if not np.all(np.isfinite(uv)) or not d[0] <= gate_px:
                st.stats["disagreements"] += 1
                st.history = []
                n += int(not np.any(d <= gate_px))
                continue
        st.history = (st.history + [(t, cands[0, :2].copy())])[-2:]
    return n


def rescore(st: CamState, cam: Camera, clip: CameraClip, xyz: np.ndarray, t: int, gate_px: float,
            factor: float) -> None:
    """Multiply the scores of frame t's candidates farther than ``gate_px`` (full-res) from the 3D
    fix's projection by ``factor`` and re-sort them (rows and detector-px candidates alike)."""
    cands = st.cands[t]
    if not len(cands):
        return
    uv, _ = cam.project(xyz[None])  # (1, 2) distorted full-res px
    full = clip.to_full(cands[:, :2])  # (n, 2)
    far = ~(np.linalg.norm(full - uv[0], axis=1) <= gate_px)  # NaN projection: every candidate is far
    cands = cands.copy()
    cands[far, 2] *= factor
    order = np.argsort(-cands[:, 2], kind="stable")
    st.cands[t] = cands[order]
    st.stats["rescored"] = st.stats.get("rescored", 0) + int(far.any())
    st.rows[t] = to_full_res(clip, [st.cands[t]])[0]


@dataclass
class FrameStep:
    """What one frame set of the roi3d loop produced."""
    frame: int
    fix: FrameFix  # the frame's cross-camera fix (xyz None when missing, with the reason)
    verdict: Verdict  # the monitor's verdict (verdict.report: whether the fix may be reported)
    cand: np.ndarray  # (V, K, 3) undistorted candidates of the frame (NaN padded), what the fix came from
    detect_s: float  # seconds of the network passes of every camera
    assoc_s: float  # seconds of the association
    rows: list  # per camera the frame's candidates [[u, v, score], ...] in distorted full-res px (after rescoring)
    retract: dict = field(default_factory=dict)  # hover loss: earlier frame -> (3,) its wrong fix (their detections near it are withdrawn)


class Roi3DLoop:
    """The frame-synchronous roi3d loop, one frame set at a time: ``step(t)`` runs every camera on frame
    t of its clip (the clip must hold frame t and the frames the network stacks before it), associates
    and updates the 3D prediction and the monitor. The batch detector (``detect_scene_roi3d``) and the
    live tracker (``ball3d.live``) drive the same loop; frame indices must increase (gaps are allowed:
    the predictions coast over them). ``keep=False`` forgets each frame's candidates after its step
    (a live run would otherwise grow without bound)."""

    def __init__(self, model: HeatmapNet, clips: list[CameraClip], cams: list[Camera], p: DetectParams,
                 fps: float, acfg: AssocConfig, ball_radius_m: float = BALL_RADIUS_M, keep: bool = True):
        by_name = {c.camera: c for c in clips}
        missing = [c.name for c in cams if c.name not in by_name]
        if missing:
            raise PipelineError(f"detect.mode roi3d: calibrated cameras {missing} have no video clip")
        self.model, self.cams, self.p, self.acfg, self.keep = model, cams, p, acfg, keep
        self.clips = [by_name[c.name] for c in cams]
        self.P = np.stack([c.P for c in cams])  # (V, 3, 4) undistorted projection matrices
        self.pred = Predictor3D(fps, p.max_gap, ball_radius_m)
        self.mon = TrackMonitor(p.monitor, fps)
        self.states = [CamState() for _ in cams]
        self.gate = max(acfg.gate_px, acfg.reassoc_gate_px)
        self.run = {"assoc_s": 0.0, "search_left": 0, "banned": None, "ban_until": -1, "verdicts": {},
                    "events": [], "hover_bans": [], "retracted": 0, "ban_hits": 0, "fixed": set()}

    def step(self, t: int) -> FrameStep:
        p, run, cams, clips, states = self.p, self.run, self.cams, self.clips, self.states
        with _quiet("ball3d.association"):
            search = run["search_left"] > 0
            if t > run["ban_until"]:
                run["banned"] = None
            xyz = None if search else self.pred.predict(t)
            t_det = 0.0
            for st, clip, c in zip(states, clips, roi_centres(cams, clips, xyz, p.roi_size / 2)):
                t0 = time.perf_counter()
                centre, from_3d = (None, False) if search else _centre(st, c, t, p)
                # a weak crop where the 3D track says the ball is: occluded in this camera, the others carry the track
                cands = detect_frame(self.model, clip, t, centre, p, st.stats, fallback=p.roi3d_fallback or not from_3d)
                st.stats["weak_kept"] += int(from_3d and not p.roi3d_fallback and not confident(cands, p))
                st.stats["search_frames"] = st.stats.get("search_frames", 0) + int(search)
                st.cands[t] = cands
                st.rows[t] = to_full_res(clip, [cands])[0]
                dt = time.perf_counter() - t0
                st.seconds += dt
                t_det += dt
            t0 = time.perf_counter()
            frame = pad_candidates(cams, {c.name: [st.rows[t]] for c, st in zip(cams, states)}, self.acfg.min_score,
                                   f"roi3d frame {t}")[0]  # (V, K, 3) undistorted
            full = search or (p.full_every > 0 and t % p.full_every == 0)
            fix, alt = self._associate_banned(frame, t, xyz if full and p.monitor.enabled else None)
            t_assoc = time.perf_counter() - t0
            run["assoc_s"] += t_assoc
            n_dis = check_agreement(states, cams, clips, fix, t, self.gate, p)
            ev = Evidence(t, fix.xyz, len(fix.cams), _n_visible(cams, clips, fix.xyz), n_dis,
                          alt.xyz if alt else None, len(alt.cams) if alt else 0)
            verdict = self.mon.step(ev)
            _follow(run, verdict, fix, alt, t, self.pred, self.mon, states, search)
            if verdict.hovering is not None:
                run["hover_bans"].append({"xyz": verdict.hovering.copy(), "z": float(np.mean(
                    [x[2] for x in verdict.retract.values()])), "seen": t})
                self._retract(verdict.retract)
        rows = [st.rows[t] for st in states]
        if not self.keep:
            for st in states:
                st.cands.pop(t)
                st.rows.pop(t)
        return FrameStep(t, fix, verdict, frame, t_det, t_assoc, rows, dict(verdict.retract))

    def _associate_banned(self, frame: np.ndarray, t: int, track: np.ndarray | None) -> tuple[FrameFix, FrameFix | None]:
        """The frame's fix (and full-frame alternative) with banned objects' candidates removed: the lost
        position of the last search, and every hovering object still under a ban. A fix that lands on a
        hovering object (near its height, within a player's reach of its last sighting) updates that ban
        and the frame is associated again without it."""
        run, gate = self.run, self.acfg.reassoc_gate_px
        bans = run["hover_bans"] = [b for b in run["hover_bans"] if t - b["seen"] <= self.p.monitor.ban_frames]
        cand = ban(self.P, frame, run["banned"], gate)
        for b in bans:
            cand = ban(self.P, cand, b["xyz"], gate)
        for _ in range(len(bans) + 1):
            fix, alt = _associate(self.P, cand, t, self.acfg, track)
            hit = next(((b, x) for x in (fix.xyz, alt.xyz if alt else None) if x is not None for b in bans
                        if _is_banned_object(b, x, t, self.pred.fps)), None)
            if hit is None:
                return fix, alt
            b, x = hit
            b["xyz"], b["seen"] = np.asarray(x, float).copy(), t
            run["ban_hits"] += 1
            cand = ban(self.P, cand, b["xyz"], gate)
        return fix, alt

    def _retract(self, frames: dict) -> None:
        """Withdraw every camera's candidates near the projection of each retracted frame's wrong fix."""
        for f, xyz in frames.items():
            for st, cam, clip in zip(self.states, self.cams, self.clips):
                if f not in st.cands or not len(st.cands[f]):
                    continue
                uv, _ = cam.project(np.asarray(xyz, float)[None])  # (1, 2) distorted full-res px
                d = np.linalg.norm(clip.to_full(st.cands[f][:, :2]) - uv[0], axis=1)
                keep = ~(d <= self.gate)  # NaN (not projectable): kept
                if not keep.all():
                    st.cands[f] = st.cands[f][keep]
                    st.rows[f] = to_full_res(clip, [st.cands[f]])[0]
                    st.stats["retracted"] = st.stats.get("retracted", 0) + 1
            self.run["retracted"] += 1
            self.run["fixed"].discard(f)


def _is_banned_object(b: dict, xyz: np.ndarray, t: int, fps: float) -> bool:
    """Whether fix ``xyz`` at frame t is the banned hovering object ``b`` (at its height, within reach)."""
    reach = min(PLAYER_SPEED_MS * max(t - b["seen"], 1) / fps + 0.5, BAN_REACH_MAX_M)
    return bool(abs(float(xyz[2]) - b["z"]) <= HOVER_BAN_DZ_M and np.linalg.norm(np.asarray(xyz[:2]) - b["xyz"][:2]) <= reach)


def detect_scene_roi3d(model: HeatmapNet, clips: list[CameraClip], cams: list[Camera], p: DetectParams,
                       fps: float, acfg: AssocConfig, ball_radius_m: float = BALL_RADIUS_M,
                       timing: dict | None = None, steps: list | None = None) -> tuple[dict, dict]:
    """All cameras frame-synchronously; returns per_camera rows (full-res) and statistics (per camera
    frame counts, plus "scene": frames with a 3D fix, the monitor's verdicts and its events). ``timing``,
    when given, receives the wall-clock figures (per camera seconds and frames/s; scene seconds,
    association ms per frame, camera-frames/s); ``steps``, when given, receives every frame's FrameStep."""
    loop = Roi3DLoop(model, clips, cams, p, fps, acfg, ball_radius_m)
    if len({c.n_frames for c in loop.clips}) != 1:
        raise PipelineError(f"detect.mode roi3d: cameras disagree on the number of frames: "
                            f"{ {c.camera: c.n_frames for c in loop.clips} }")
    t_start = time.perf_counter()
    for t in range(loop.clips[0].n_frames):
        step = loop.step(t)
        if steps is not None:
            steps.append(step)
    return _summary(loop.states, cams, loop.clips, loop.run, time.perf_counter() - t_start, timing)


def _associate(P: np.ndarray, cand: np.ndarray, t: int, acfg: AssocConfig,
               track: np.ndarray | None) -> tuple[FrameFix, FrameFix | None]:
    """The frame's fix, and on a full-frame pass with a live track (``track``: its predicted position) the
    best fix away from it: the track's fix is then associated among the candidates near the prediction
    and the unconstrained fix, when it lies elsewhere, is the alternative the monitor weighs."""
    fix = associate_frame(P, cand, t, acfg)
    if track is None or fix.xyz is None:
        return fix, None
    uv, _ = project(P, np.asarray(track, float)[None])  # (1, V, 2)
    near = np.linalg.norm(cand[:, :, :2] - uv[0][:, None, :], axis=-1) < acfg.reassoc_gate_px  # (V, K)
    own = associate_frame(P, np.where(near[..., None], cand, np.nan), t, acfg)
    if own.xyz is not None and np.linalg.norm(own.xyz - fix.xyz) <= acfg.jump_m:
        return own, None
    return own, fix


def ban(P: np.ndarray, cand: np.ndarray, xyz: np.ndarray | None, radius_px: float) -> np.ndarray:
    """cand (V, K, 3) with the candidates within ``radius_px`` of the projection of ``xyz`` (a lost
    track's last position) set to NaN, so that re-acquisition does not lock onto it again."""
    if xyz is None:
        return cand
    uv, depth = project(P, np.asarray(xyz, float)[None])  # (1, V, 2), (1, V)
    near = np.linalg.norm(cand[:, :, :2] - uv[0][:, None, :], axis=-1) < radius_px  # (V, K); NaN -> False
    near &= (depth[0] > 0)[:, None]
    return np.where(near[..., None], np.nan, cand)


def _n_visible(cams: list[Camera], clips: list[CameraClip], xyz: np.ndarray | None) -> int:
    """Cameras whose image contains the projection of ``xyz`` (0 without a fix)."""
    return 0 if xyz is None else sum(c is not None for c in roi_centres(cams, clips, xyz, 0.0))


def _follow(run: dict, verdict: Verdict, fix: FrameFix, alt: FrameFix | None, t: int, pred: Predictor3D,
            mon: TrackMonitor, states: list[CamState], search: bool) -> None:
    """Act on the monitor's verdict: a reported fix feeds the 3D prediction; a loss drops the track and
    every camera's 2D track, bans the lost position and runs ``monitor.search_frames`` full frames; a
    switch restarts the track at the alternative fix."""
    state = SEARCH if search and verdict.state == TRACKING else verdict.state
    run["verdicts"][state] = run["verdicts"].get(state, 0) + 1
    if verdict.state in (LOST, DOUBT, SWITCH):
        run["events"].append({"frame": t, "state": verdict.state, "reason": verdict.reason})
    if verdict.state in (LOST, SWITCH):
        log.info("roi3d frame %d: %s (%s)", t, "track lost, re-acquiring" if verdict.state == LOST
                 else "track switched", verdict.reason)
        old = pred.predict(t) if fix.xyz is None else fix.xyz
        pred.fixes = []
        for st in states:
            st.history = []
        if verdict.state == SWITCH:
            run["banned"], run["search_left"] = None, 0
            run["fixed"].add(t)
            pred.update(t, alt.xyz)
            return
        mon.reset()
        run["banned"], run["search_left"] = old, mon.cfg.search_frames
        run["ban_until"] = t + mon.cfg.search_frames + mon.cfg.window  # a ban never outlives one window
        return
    run["search_left"] = max(0, run["search_left"] - 1)
    if fix.xyz is not None and verdict.report:
        if run["search_left"] == 0:
            run["banned"] = None  # a new track stands: the ban has done its job
        run["fixed"].add(t)
        pred.update(t, fix.xyz)


def _summary(states, cams, clips, run: dict, total_s: float, timing: dict | None) -> tuple[dict, dict]:
    n = clips[0].n_frames
    per_camera, stats, clock = {}, {}, {}
    for st, cam in zip(states, cams):
        s = dict(st.stats)
        per_camera[cam.name], stats[cam.name] = [st.rows[t] for t in sorted(st.rows)], s
        clock[cam.name] = {"seconds": round(st.seconds, 4), "fps": round(n / max(st.seconds, 1e-9), 2)}
        log.info("camera %s: %d frames, %.1f frames/s (%d ROI: %d from 3D, %d from 2D; %d full; %d disagreements)",
                 cam.name, n, clock[cam.name]["fps"], s["roi_frames"], s["roi_from_3d"], s["roi_from_2d"],
                 s["full_frames"], s["disagreements"])
    n_fix, assoc_s = len(run["fixed"]), run["assoc_s"]
    stats["scene"] = {"frames": n, "cameras": len(cams), "frames_with_3d_fix": n_fix,
                      "verdicts": dict(sorted(run["verdicts"].items())), "events": run["events"],
                      "retracted_frames": run["retracted"], "hover_ban_hits": run["ban_hits"]}
    clock["scene"] = {"association_ms_per_frame": round(assoc_s * 1e3 / max(n, 1), 3), "seconds": round(total_s, 3),
                      "camera_frames_per_s": round(n * len(cams) / max(total_s, 1e-9), 2)}
    if timing is not None:
        timing.update(clock)
    log.info("roi3d: %d/%d frames with a 3D fix, %.1f camera-frames/s", n_fix, n, clock["scene"]["camera_frames_per_s"])
    return per_camera, stats
