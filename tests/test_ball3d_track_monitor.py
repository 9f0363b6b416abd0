"""Lost-track monitor (ball3d.detection.monitor): evidence in, verdict + reason out; no camera, no network."""
from __future__ import annotations

import numpy as np
import pytest

from ball3d.detection.monitor import (
    DOUBT,
    LOST,
    SWITCH,
    TRACKING,
    Evidence,
    MonitorConfig,
    TrackMonitor,
)

FPS = 25.0


def _walk(mon: TrackMonitor, frames, agree, visible, disagree, v=(2.0, 0.0, 0.0)):
    out = []
    for t in frames:
        out.append(mon.step(Evidence(t, np.array([t * v[0] / FPS, t * v[1] / FPS, 0.11]), agree, visible, disagree)))
    return out


def test_a_well_supported_track_is_reported_every_frame():
    mon = TrackMonitor(MonitorConfig(window=6, min_frames=3), FPS)
    verdicts = _walk(mon, range(30), agree=5, visible=6, disagree=0)
    assert all(v.state == TRACKING and v.report and v.reason == "" for v in verdicts)


def test_an_occluded_ball_seen_by_two_cameras_is_not_lost():
    """Occlusion: 2 of 6 cameras agree for a few frames, nobody contradicts the fix: never lost."""
    mon = TrackMonitor(MonitorConfig(window=6, min_frames=3), FPS)
    _walk(mon, range(10), agree=5, visible=6, disagree=0)
    verdicts = _walk(mon, range(10, 13), agree=2, visible=6, disagree=0)
    assert all(v.state == TRACKING and v.report for v in verdicts)


def test_a_look_alike_contradicted_by_the_other_cameras_is_lost_with_the_reason():
    mon = TrackMonitor(MonitorConfig(window=6, min_frames=3, min_agree_frac=0.5, max_disagree=1.0), FPS)
    verdicts = _walk(mon, range(8), agree=2, visible=6, disagree=2)
    states = [v.state for v in verdicts]
    assert states[:2] == [DOUBT, DOUBT]  # too few fixes to judge the track: the frames are not reported
    assert LOST in states and states.index(LOST) == 2  # min_frames fixes pooled -> lost
    lost = verdicts[2]
    assert not lost.report and "6 of 18 expected views agree" in lost.reason
    assert not any(v.report for v in verdicts)  # a wrong fix is worse than a missing one


def test_too_few_agreeing_views_alone_make_a_loss_once_pooled():
    mon = TrackMonitor(MonitorConfig(window=4, min_frames=4, min_agree_frac=0.5), FPS)
    verdicts = _walk(mon, range(4), agree=2, visible=6, disagree=1)
    assert [v.state for v in verdicts] == [DOUBT, DOUBT, DOUBT, LOST]
    assert "8 of 24 expected views agree" in verdicts[-1].reason


def test_an_implausible_step_is_doubtful_and_not_followed():
    mon = TrackMonitor(MonitorConfig(max_speed_ms=40.0, speed_slack_m=0.5), FPS)
    _walk(mon, range(5), agree=4, visible=4, disagree=0)
    far = mon.step(Evidence(5, np.array([30.0, 0.0, 0.11]), 4, 4, 0))  # 30 m in one frame
    assert far.state == DOUBT and not far.report and "exceeds" in far.reason
    back = mon.step(Evidence(6, np.array([6 * 2.0 / FPS, 0.0, 0.11]), 4, 4, 0))  # compared with the last reported fix
    assert back.state == TRACKING and back.report


def test_a_better_supported_hypothesis_on_a_full_frame_takes_over():
    mon = TrackMonitor(MonitorConfig(switch_margin=1), FPS)
    _walk(mon, range(5), agree=2, visible=3, disagree=0)
    same = mon.step(Evidence(5, np.array([0.4, 0.0, 0.11]), 2, 3, 0, alt_xyz=np.array([9.0, 0.0, 0.11]), alt_agree=2))
    assert same.state == TRACKING  # as many views: the track stays
    two = mon.step(Evidence(6, None, 0, 0, 0, alt_xyz=np.array([9.0, 0.0, 0.11]), alt_agree=2))
    assert two.state == TRACKING and not two.report  # two views elsewhere: not enough to leave the track
    sw = mon.step(Evidence(6, np.array([0.5, 0.0, 0.11]), 2, 3, 0, alt_xyz=np.array([9.0, 0.0, 0.11]), alt_agree=3))
    assert sw.state == SWITCH and sw.report and "3 views" in sw.reason
    nxt = mon.step(Evidence(7, np.array([9.05, 0.0, 0.11]), 3, 3, 0))  # the new track is followed from there
    assert nxt.state == TRACKING and nxt.report


def test_disabled_monitor_is_an_observer_only():
    mon = TrackMonitor(MonitorConfig(enabled=False, window=4, min_frames=2), FPS)
    verdicts = _walk(mon, range(10), agree=2, visible=6, disagree=4)
    assert all(v.state == TRACKING and v.report for v in verdicts)
    sw = mon.step(Evidence(10, np.zeros(3), 2, 3, 0, alt_xyz=np.ones(3), alt_agree=6))
    assert sw.state == TRACKING


def test_a_frame_without_fix_is_not_reported_and_carries_no_evidence():
    mon = TrackMonitor(MonitorConfig(window=4, min_frames=2), FPS)
    v = mon.step(Evidence(0, None))
    assert v.state == TRACKING and not v.report and v.reason == "no 3D fix" and len(mon.history) == 0


@pytest.mark.parametrize("kw", [{"window": 0}, {"window": 3, "min_frames": 4}, {"min_agree_frac": 1.5},
                                {"search_frames": 0}])
def test_bad_monitor_config_is_refused(kw):
    with pytest.raises(ValueError, match="monitor"):
        MonitorConfig(**kw)


def _fly(mon: TrackMonitor, frames, z_of_t, agree=5, visible=6):
    return [mon.step(Evidence(t, np.array([0.2 * t, 0.0, z_of_t(t / FPS)]), agree, visible, 0)) for t in frames]


def test_an_airborne_object_that_does_not_fall_is_lost():
    """A head or a shirt seen consistently by every camera: no camera contradicts it, gravity does."""
    cfg = MonitorConfig(hover_frames=20, airborne_m=0.5, hover_max_accel_mps2=4.0)
    rng = np.random.default_rng(0)
    head = _fly(TrackMonitor(cfg, FPS), range(30), lambda s: 1.7 + 0.02 * rng.standard_normal())
    states = [v.state for v in head]
    assert states.index(LOST) == 19 and "hovers" in head[19].reason
    ball = _fly(TrackMonitor(cfg, FPS), range(30), lambda s: 0.5 + 12.0 * s - 4.905 * s * s + 0.02 * rng.standard_normal())
    assert all(v.state == TRACKING for v in ball)  # a lob: up at 12 m/s, falls under gravity
    rolling = _fly(TrackMonitor(cfg, FPS), range(30), lambda s: 0.11)
    assert all(v.state == TRACKING for v in rolling)  # on the ground: no gravity check


def test_a_fast_fall_slowed_by_drag_is_not_a_hover_but_a_head_is_caught_in_8_frames_and_retracted():
    """Air drag opposes a fast fall (at 20 m/s about -4 m/s^2 net): the hover check only runs where the
    vertical speed is low. A head (z constant) is caught after hover_frames fixes; the verdict hands over
    the run's fixes (all wrong) and the object."""
    cfg = MonitorConfig(hover_frames=8, hover_max_accel_mps2=4.0, hover_max_vz_ms=2.0)
    rng = np.random.default_rng(1)
    fall = _fly(TrackMonitor(cfg, FPS), range(20), lambda s: 9.0 - 20.0 * s - 1.5 * s * s + 0.01 * rng.standard_normal())
    assert all(v.state == TRACKING for v in fall)
    head = _fly(TrackMonitor(cfg, FPS), range(3, 20), lambda s: 1.62 + 0.015 * rng.standard_normal())
    states = [v.state for v in head]
    first = states.index(LOST)
    assert first == 7 and "hovers" in head[first].reason
    assert sorted(head[first].retract) == list(range(3, 11)) and head[first].hovering is not None
    apex = _fly(TrackMonitor(cfg, FPS), range(20), lambda s: 1.2 + 4.0 * s - 4.905 * s * s + 0.015 * rng.standard_normal())
    assert all(v.state == TRACKING for v in apex)  # through its apex a ball falls at g: no hover


def test_a_ball_deflected_mid_run_is_not_a_hover_at_the_default_vertical_speed_gate():
    """Seed 3, test_3007, frames 42-49: the ball falling at 7 m/s is deflected at frame 43 and leaves
    nearly level before falling at g again; the quadratic through that bent curve has -3.8 m/s^2 (above
    -4) at a mean vertical speed of -1.6 m/s. A head's mean vertical speed is 0.0 m/s."""
    z = [1.12, 0.99, 0.98, 0.94, 0.90, 0.83, 0.75, 0.66]
    for cfg, lost in ((MonitorConfig(hover_max_vz_ms=2.0), True), (MonitorConfig(), False)):
        mon = TrackMonitor(cfg, FPS)
        out = [mon.step(Evidence(42 + i, np.array([-10.0, -23.0 + 0.2 * i, h]), 5, 6, 0)) for i, h in enumerate(z)]
        assert (out[-1].state == LOST) is lost, [v.reason for v in out]
