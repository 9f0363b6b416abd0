"""Sequence-level association: top hypotheses per frame + Viterbi, against a persistent 3D-consistent decoy."""
from pathlib import Path

import numpy as np
import pytest
import yaml

from ball3d.association import AssocConfig, associate, pad_candidates
from ball3d.evaluation.decoy import decoy_problem
from ball3d.fusion.sequence import FrameHyps, associate_sequence, frame_hypotheses, masked_dlt, regate, viterbi
from ball3d.fusion.solve import solve_scene
from pipeutil.config import from_params

SEQ = AssocConfig(sequence=True)
SINGLE = (30, 31, 32)  # frames where only cam0 sees the ball (decoy_problem's default)


def _errors(fixes, xyz):
    return np.array([np.linalg.norm(f.xyz - xyz[f.frame]) for f in fixes if f.xyz is not None])


@pytest.fixture(scope="module")
def decoy():
    return decoy_problem()


def test_per_frame_locks_onto_the_decoy_and_the_sequence_recovers_the_ball(decoy):
    p, dec = decoy
    per = associate(p.cameras, p.candidates, AssocConfig()).fixes
    on_decoy = sum(f.xyz is not None and np.linalg.norm(f.xyz - dec[f.frame]) < 0.3 for f in per)
    assert on_decoy >= 10  # the failure this module exists for
    assert np.sqrt(np.mean(_errors(per, p.xyz) ** 2)) > 2.0
    seq = associate_sequence(p.cameras, p.candidates, SEQ, p.fps)
    err = _errors(seq.fixes, p.xyz)
    assert np.sqrt(np.mean(err ** 2)) < 0.1 and err.max() < 0.3
    assert len(err) >= len(p.xyz) - len(SINGLE) - 2  # every frame where >= 2 cameras see the ball
    assert seq.summary()["not_best_frames"] >= 10  # the path did overrule the per-frame ranking


def test_frames_seen_by_one_camera_stay_missing(decoy):
    p, _ = decoy
    seq = associate_sequence(p.cameras, p.candidates, SEQ, p.fps)
    for i in SINGLE:  # only the decoy is 3D-consistent there: missing, never the decoy, never invented
        assert seq.fixes[i].xyz is None and seq.fixes[i].reason


def _ball_candidates(p, cand, i):
    """{camera index: candidate index} of the ball's detections in frame i (undistorted, within 5 px)."""
    out = {}
    for j, c in enumerate(p.cameras):
        d = np.linalg.norm(cand[i, j, :, :2] - c.project(p.xyz[i:i + 1], distort=False)[0][0], axis=1)  # (K,)
        if np.nanmin(d, initial=np.inf) < 5:
            out[j] = int(np.nanargmin(d))
    return out


def test_views_missed_by_the_hypothesis_come_back_in_the_regate(decoy):
    p, _ = decoy
    cand = pad_candidates(p.cameras, p.candidates)
    P = np.stack([c.P for c in p.cameras])
    i = next(i for i in range(len(p.xyz)) if len(_ball_candidates(p, cand, i)) == 3)
    ball = _ball_candidates(p, cand, i)
    kidx = np.full((1, len(P)), -1)
    for j in list(ball)[:2]:  # a hypothesis built from two of the three views
        kidx[0, j] = ball[j]
    X = masked_dlt(P, cand[i][np.arange(len(P)), np.maximum(kidx[0], 0), :2][None], (kidx >= 0).astype(float))
    fix = regate(P, cand[i], i, FrameHyps(X, kidx, np.zeros((1, len(P))), np.array([-2.0])), 0, SEQ)
    assert sorted(fix.cams) == sorted(ball) and np.linalg.norm(fix.xyz - p.xyz[i]) < 0.1


def test_frame_hypotheses_are_distinct_capped_and_ranked(decoy):
    p, dec = decoy
    cand = pad_candidates(p.cameras, p.candidates)
    P = np.stack([c.P for c in p.cameras])
    h = frame_hypotheses(P, cand[5], AssocConfig(hypotheses_per_frame=2))
    assert len(h.unary) == 2 and np.all(np.diff(h.unary) >= 0)
    near = [min(np.linalg.norm(h.xyz - x, axis=1)) for x in (p.xyz[5], dec[5])]
    assert max(near) < 0.3  # the ball and the decoy are both kept
    codes = {tuple(r) for r in h.kidx}
    assert len(codes) == len(h.kidx)
    assert np.all((h.kidx >= 0).sum(axis=1) >= 2)


def test_masked_dlt_uses_only_the_unmasked_views(decoy):
    p, _ = decoy
    P = np.stack([c.P for c in p.cameras])
    X = np.array([3.0, -4.0, 2.0])
    uv = np.stack([c.project(X[None], distort=False)[0][0] for c in p.cameras])[None]  # (1, V, 2)
    uv[0, 3:] += 300.0  # garbage in the masked views
    w = np.array([[1, 1, 1, 0, 0, 0]], float)
    assert np.allclose(masked_dlt(P, uv, w)[0], X, atol=1e-6)


def _hyps(points, unary):
    return FrameHyps(np.array(points, float).reshape(-1, 3), np.zeros((len(unary), 2), int),
                     np.zeros((len(unary), 2)), np.array(unary, float))


def test_viterbi_skips_a_lone_better_outlier_and_keeps_gaps():
    cfg = AssocConfig(jump_cost=10.0, missing_cost=0.5)
    track = [[0.3 * t, 0, 1] for t in range(8)]
    hyps = [_hyps([track[t], [30, 0, 1]], [-3, -2.5]) for t in range(8)]
    hyps[3] = _hyps([track[3], [30, 0, 1]], [-2.5, -3.5])  # the decoy wins this frame alone
    hyps[5] = _hyps([], [])  # nothing at all
    path = viterbi(hyps, 0.04, cfg)
    assert path.tolist() == [0, 0, 0, 0, 0, -1, 0, 0]
    hyps[4] = _hyps([[60, 0, 1]], [-1.0])  # one consistent frame of an object 30 m away: not worth two jumps
    assert viterbi(hyps, 0.04, cfg)[4] == -1


def test_viterbi_restarts_after_a_long_loss():
    cfg = AssocConfig(jump_cost=4.0, missing_cost=0.5, max_skip_frames=2)
    hyps = [_hyps([[0.2 * t, 0, 1]], [-3]) for t in range(5)] + [_hyps([], [])] * 6 + \
        [_hyps([[20 + 0.2 * t, 0, 1]], [-3]) for t in range(5)]
    path = viterbi(hyps, 0.04, cfg)
    assert path.tolist() == [0] * 5 + [-1] * 6 + [0] * 5


def test_solve_scene_reports_both_and_the_graph_follows_the_sequence(decoy):
    p, _ = decoy
    cand = {k: [a.tolist() for a in v] for k, v in p.candidates.items()}
    params = {"association": {"sequence": True}, "streaming": {"enabled": False}}
    timing = {}
    out = solve_scene(p.cameras, cand, p.fps, params, timing)
    assert {"ransac", "ransac_seq", "graph_smoothed"} <= set(out["tracks"])
    assert "association_seq_s" in timing and out["association"]["sequence"]["solved"] > 60

    def rmse(name):
        t = out["tracks"][name]
        return float(np.sqrt(np.mean(np.sum((np.asarray(t["xyz"]) - p.xyz[t["frames"]]) ** 2, axis=1))))

    assert rmse("ransac") > 2.0 and rmse("ransac_seq") < 0.1 and rmse("graph_smoothed") < 0.1


def test_params_yaml_association_keys_build_the_config():
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    cfg = from_params(AssocConfig, params["bundle"]["association"])
    assert cfg.sequence is True and cfg.hypotheses_per_frame >= 1


def _path_cost(path, hyps, dt, cfg):
    """The cost of a labelling, written directly from the definition in seqassoc's docstring."""
    cost, last = 0.0, None
    for t, b in enumerate(path):
        if b < 0:
            cost += cfg.missing_cost
            continue
        cost += hyps[t].unary[b]
        if last is not None:
            s, a = last
            step = np.linalg.norm(hyps[t].xyz[b] - hyps[s].xyz[a])
            limit = cfg.max_speed_ms * (t - s) * dt + cfg.speed_slack_m
            near = t - s - 1 <= cfg.max_skip_frames and step <= limit
            cost += cfg.step_weight * (step / limit) ** 2 if near else cfg.jump_cost
        last = (t, b)
    return cost


def test_viterbi_matches_exhaustive_search():
    import itertools

    rng = np.random.default_rng(3)
    cfg = AssocConfig(jump_cost=3.0, missing_cost=0.7, max_skip_frames=1, max_speed_ms=10.0)
    for _ in range(30):
        hyps = [_hyps(rng.uniform(-1.5, 1.5, (n, 3)), rng.uniform(-3, 0, n)) for n in rng.integers(0, 3, 6)]
        best = min(_path_cost(p, hyps, 0.04, cfg)
                   for p in itertools.product(*[range(-1, len(h.unary)) for h in hyps]))
        assert _path_cost(viterbi(hyps, 0.04, cfg), hyps, 0.04, cfg) == pytest.approx(best)


def test_distinct_keeps_the_first_of_each_assignment_also_with_many_cameras():
    from ball3d.fusion.sequence import _distinct

    rng = np.random.default_rng(0)
    for V, K in ((4, 3), (30, 12)):  # exact codes / row comparison
        rows = rng.integers(-1, K, (6, V))
        kidx = np.concatenate([rows, rows[::-1]])  # (12, V) every assignment twice
        keep = _distinct(kidx, np.arange(12))
        assert keep.tolist() == list(range(len({tuple(r) for r in rows})))


def test_epipolar_distance_is_zero_for_one_point_and_large_otherwise(decoy):
    from ball3d.fusion.sequence import epipolar_px, fundamental_matrices

    p, _ = decoy
    P = np.stack([c.P for c in p.cameras])
    X = np.array([[3.0, -4.0, 2.0], [-20.0, 10.0, 0.5]])
    uv = np.stack([c.project(X, distort=False)[0] for c in p.cameras], axis=1)  # (2, V, 2)
    cand = np.concatenate([uv.transpose(1, 0, 2), np.ones((len(P), 2, 1))], axis=2)  # (V, 2, 3)
    same = np.array([[[a, 0], [b, 0]] for a in range(len(P)) for b in range(len(P)) if a != b])
    other = same.copy()
    other[:, 1, 1] = 1
    F = fundamental_matrices(P)
    assert np.all(epipolar_px(F, cand, same) < 1e-6)
    assert np.median(epipolar_px(F, cand, other)) > 20
