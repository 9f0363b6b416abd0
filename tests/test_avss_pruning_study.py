"""Pruning study: paired-bootstrap tables and verdicts, nested item sets, measured damage vs proxies,
AVSS variants, calibration overlap, bad input (synthetic records; the sweep itself on a tiny model)."""
import json
import math

import numpy as np
import pytest
from tiny_llm import CORPUS, make_tiny_llm

from avss.activations import CaptureConfig, calibration_windows, window_batches
from avss.capture.sites import capture_sites
from avss.evaluation import metrics as M
from avss.pruning import study as S
from avss.pruning import uncertainty as U
from avss.pruning.report import report_pruning, summary_markdown, table_rows, write_report
from avss.pruning.scores import ScoreConfig, layer_variance
from avss.pruning.sweep import plan_runs, sweep_task_spec
from avss.pruning.variants import calibration_scores, variant_scores
from pipeutil.bootstrap import weights
from pipeutil.io import PipelineError


def _res(task, items, ids=None, metric="acc", chance=0.5, hib=True):
    ids = ids or [f"{task}-{i}" for i in range(len(items))]
    return {"task": task, "n": len(items), "metrics": {metric: M.aggregate(metric, items)}, "stderr": {metric: None},
            "chance": {metric: chance}, "higher_is_better": {metric: hib}, "primary": metric, "ids": ids,
            "items": {metric: items}}


def _ppl(task, ll, units=10):
    return _res(task, [[float(x), units] for x in ll], metric="word_perplexity", chance=None, hib=False)


def _sweep(evals: dict, runs: list[tuple[str, float, list[int]]], n_layers=4) -> dict:
    return {"n_layers": n_layers, "evaluations": evals,
            "runs": [{"method": m, "ratio": r, "removed": rm, "key": "dense" if not rm else "drop-" + "-".join(map(str, rm))}
                     for m, r, rm in runs],
            "per_layer": {m: [] for m, _, _ in runs}}


def test_estimates_equal_the_aggregates_and_identical_models_have_zero_width():
    rng = np.random.default_rng(0)
    acc = rng.integers(0, 2, 50).astype(float).tolist()
    ll = (-rng.random(50) * 30).tolist()
    w = weights(50, 300, 0, "t")
    b = U.metric_boot(acc, "acc", w)
    assert b.estimate == pytest.approx(M.aggregate("acc", acc))
    items = [[x, 10] for x in ll]
    p = U.metric_boot(items, "word_perplexity", w)
    assert p.estimate == pytest.approx(M.aggregate("word_perplexity", items))
    iv = p.interval(50)
    assert iv.low < iv.estimate < iv.high
    rows = U.compare(_res("t", acc), _res("t", acc), U.Resampler(300, 0))
    assert (rows[0]["retention_low"], rows[0]["retention_high"]) == (1.0, 1.0)  # paired: same items, same values
    assert (rows[0]["change_low"], rows[0]["change_high"]) == (0.0, 0.0)


def test_perplexity_retention_is_dense_over_pruned():
    dense, pruned = _ppl("wiki", [-20.0] * 8), _ppl("wiki", [-30.0] * 8)
    row = U.compare(dense, pruned, U.Resampler(100, 0))[0]
    assert row["retention"] == pytest.approx(math.exp(2.0) / math.exp(3.0))  # ppl e^2 vs e^3
    assert row["retention_low"] == pytest.approx(row["retention_high"])  # every document loses the same


def _two_methods(n, loss_b):
    """Dense all correct on n items; method a loses nothing, b loses the first loss_b items."""
    dense = [1.0] * n
    b = [0.0] * loss_b + [1.0] * (n - loss_b)
    evals = {"dense": {"t": _res("t", dense)}, "drop-1": {"t": _res("t", dense)}, "drop-2": {"t": _res("t", b)}}
    return _sweep(evals, [("a", 0.0, []), ("a", 0.25, [1]), ("b", 0.0, []), ("b", 0.25, [2])])


def test_summary_says_keeps_more_only_when_the_interval_excludes_zero():
    text = summary_markdown(table_rows(_two_methods(200, 100), U.Resampler(500, 0)), 0.25, "a")
    assert "a keeps more than b" in text
    text = summary_markdown(table_rows(_two_methods(6, 1), U.Resampler(500, 0)), 0.25, "a")
    assert "a and b are indistinguishable at this sample size (smallest detectable difference" in text
    assert "keeps more than" not in text


def test_reference_verdict_is_undecided_when_the_interval_straddles_the_threshold():
    text = summary_markdown(table_rows(_two_methods(6, 1), U.Resampler(500, 0)), 0.25, "b", threshold=0.9)
    assert "every task? undecided at this sample size**" in text
    text = summary_markdown(table_rows(_two_methods(200, 0), U.Resampler(500, 0)), 0.25, "b", threshold=0.9)
    assert "every task? yes**" in text


def test_sweep_items_are_nested_subsets_aligned_by_id():
    dense = _res("t", [1.0, 0.0, 1.0, 1.0], ids=["a", "b", "c", "d"])
    small = _res("t", [0.0, 1.0], ids=["b", "d"])
    row = U.compare(dense, small, U.Resampler(100, 0))[0]
    assert row["n"] == 2 and row["dense"] == pytest.approx(0.5) and row["pruned"] == pytest.approx(0.5)
    with pytest.raises(PipelineError, match="nested"):
        U.compare(dense, _res("t", [1.0], ids=["z"]), U.Resampler(100, 0))


def test_plan_runs_decision_and_sweep_sets():
    methods = {"a": {"selected": {"0.25": [1], "0.5": [1, 2]}}, "b": {"selected": {"0.25": [2], "0.5": [2, 3]}}}
    runs = plan_runs(methods, 5, decision_ratio=0.25, sweep_methods=["a"])
    assert {(r.method, r.ratio, r.items) for r in runs if r.removed} == {("a", 0.25, "decision"), ("b", 0.25, "decision"),
                                                                       ("a", 0.5, "sweep")}
    with pytest.raises(PipelineError, match="evaluate_pruning.sweep_methods: \\['c'\\] not computed"):
        plan_runs(methods, 5, 0.25, ["c"])
    with pytest.raises(PipelineError, match="evaluate_pruning.summary.ratio: 0.3 is not a ratio"):
        plan_runs(methods, 5, 0.3)
    spec = sweep_task_spec({"sciq": {"limit": 10, "sweep_limit": 4}, "wiki": {"n_docs": 8, "sweep_n_docs": 2}})
    assert spec == {"sciq": {"limit": 4}, "wiki": {"n_docs": 2}}
    with pytest.raises(PipelineError, match="evaluate_pruning.tasks.sciq.sweep_limit: 11 is larger than limit 10"):
        sweep_task_spec({"sciq": {"limit": 10, "sweep_limit": 11}})


def _damage(n_layers=4, n=30):
    """Layer l costs l / n_layers of the items on task t and l nats per document on wiki."""
    dense = {"t": _res("t", [1.0] * n), "wiki": _ppl("wiki", [-20.0] * n)}
    without = []
    for layer in range(n_layers):
        k = int(n * layer / n_layers)
        without.append({"t": _res("t", [0.0] * k + [1.0] * (n - k)), "wiki": _ppl("wiki", [-20.0 - layer] * n)})
    return {"n_layers": n_layers, "tasks": {"t": n, "wiki": n}, "dense": dense, "without": without}


def test_measured_damage_and_proxy_correlations():
    dmg = _damage()
    D, metric = S.damage_items(dmg, "t")
    assert metric == "acc" and D.shape == (30, 4) and D.mean(0).tolist() == pytest.approx([0, 7 / 30, 15 / 30, 22 / 30])
    rs = U.Resampler(200, 0)
    rows = {r["method"]: r for r in S.proxy_rows({"up": [0, 1, 2, 3], "down": [3, 2, 1, 0], "short": [1]}, dmg, rs)}
    assert set(rows) == {"up", "down"}  # a proxy without a score per layer has no rank
    assert rows["up"]["spearman_wiki"] == pytest.approx(1.0) and rows["down"]["spearman_wiki"] == pytest.approx(-1.0)
    table = S.damage_rows(dmg, rs)
    wiki3 = next(r for r in table if r["task"] == "wiki" and r["layer"] == 3)
    assert wiki3["damage"] == pytest.approx(math.exp(0.3))  # ppl ratio without / dense: 3 nats over 10 words
    lines = S.avss_vs_reference({"block_influence": [0, 1, 2, 3], "avss": [3, 2, 1, 0], "avss_x": [0, 1, 3, 2]},
                                dmg, rs, {}, 1)[1]
    assert lines[0].startswith("**Does any AVSS definition match or beat block_influence?")
    assert "| avss |" in "\n".join(lines) and "| avss_x |" in "\n".join(lines)


def test_calibration_overlap():
    assert S.jaccard([1, 2], [2, 3]) == pytest.approx(1 / 3)
    cal = {"wiki": {"avss": {"per_layer": [0, 1, 2, 3], "ranking": [0, 1, 2, 3], "selected": {"0.25": [1]}}},
           "sciq": {"avss": {"per_layer": [0, 2, 1, 3], "ranking": [0, 2, 1, 3], "selected": {"0.25": [2]}}}}
    rows = S.calibration_rows(cal, _damage(), U.Resampler(100, 0), 0.25, "wiki")
    assert len(rows) == 1 and rows[0]["jaccard"] == 0.0 and rows[0]["change_wiki"] == pytest.approx(0.8 - 1.0)
    with pytest.raises(PipelineError, match="no 'x' calibration"):
        S.calibration_rows(cal, None, U.Resampler(10, 0), 0.25, "x")


def test_report_with_damage_and_bad_input_leave_nothing(tmp_path):
    sweep = _two_methods(20, 5)
    sweep["per_layer"] = {"a": [0.1, 0.2, 0.3, 0.4], "b": [0.4, 0.3, 0.2, 0.1]}
    ev, dm = tmp_path / "evaluations.json", tmp_path / "damage.json"
    ev.write_text(json.dumps(sweep))
    dm.write_text(json.dumps(_damage()))
    keys = ("csv", "metrics", "summary", "layer_scores", "retention", "heatmap", "proxies", "damage_csv",
            "calibration", "damage_ranks")
    out = {k: tmp_path / "rep" / k for k in keys}
    with pytest.raises(PipelineError, match="evaluate_pruning.bootstrap.n_boot"):
        report_pruning(ev, out, {"ratio": 0.25}, {"n_boot": 0}, dm)
    assert not (tmp_path / "rep").exists()
    report_pruning(ev, out, {"ratio": 0.25, "reference": "a"}, {"n_boot": 100, "seed": 0}, dm)
    assert all(p.exists() for p in out.values())
    text = out["summary"].read_text()
    assert "## Proxies against the measured damage" in text and "Spearman wiki" in text
    assert json.loads(out["metrics"].read_text())["proxies"]["a"]["spearman_wiki"] == pytest.approx(1.0)
    again = {k: tmp_path / "rep2" / k for k in keys}
    report_pruning(ev, again, {"ratio": 0.25, "reference": "a"}, {"n_boot": 100, "seed": 0}, dm)
    for k in ("csv", "metrics", "summary", "proxies", "damage_csv"):  # same inputs -> same bytes
        assert out[k].read_bytes() == again[k].read_bytes()


def test_write_report_without_damage_keeps_the_old_outputs(tmp_path):
    out = {k: tmp_path / k for k in ("csv", "metrics", "summary", "layer_scores", "retention", "heatmap")}
    rows = write_report(_two_methods(10, 2), out, 0.25, "a", n_boot=50)
    assert all(p.exists() for p in out.values()) and rows[0]["retention_low"] is not None


@pytest.fixture(scope="module")
def sites():
    model, tok = make_tiny_llm(None, n_layers=4)
    win = calibration_windows(" ".join(CORPUS) * 8, tok, 4, 16, 0, (0.0, 1.0))
    return capture_sites(model, window_batches(win, 4), ("block_output", "block_delta", "mlp_act"),
                         CaptureConfig(progress=False))


def test_avss_variants_from_one_capture(sites):
    base = ScoreConfig(ratios=(0.25, 0.5))
    out = variant_scores(sites, {"d": {"site": "block_delta"}, "sf": {"variance_scale": "input_meansq"}}, base)
    assert set(out) == {"d", "sf"} and out["d"]["variant"]["site"] == "block_delta"
    var = layer_variance(sites.sites["block_output"], "all")
    np.testing.assert_allclose(out["sf"]["variance"], var / sites.in_meansq)
    assert out["d"]["variance"] == pytest.approx(layer_variance(sites.sites["block_delta"], "all"))
    with pytest.raises(PipelineError, match="score.variants.x: unknown key\\(s\\) \\['sitee'\\]"):
        variant_scores(sites, {"x": {"sitee": "mlp_act"}}, base)
    with pytest.raises(PipelineError, match="score.variants.avss: the name of a variant must differ"):
        variant_scores(sites, {"avss": {}}, base)
    cal = calibration_scores(sites, {"d": {"site": "block_delta"}}, base)
    assert set(cal) == {"avss", "block_influence", "angular_distance", "d"} and set(cal["d"]) == {"per_layer", "ranking", "selected"}
