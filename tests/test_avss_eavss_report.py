"""The evaluate_hallucination report: paired intervals over held-out items, seeds, verdicts, bad run sets."""
from __future__ import annotations

import json

import pytest

from avss.finetune.evaluate import write_report
from avss.finetune.report import compare_all, markdown_table, nested_metrics, summary_text
from pipeutil.io import PipelineError

N = 30  # held-out truthful_qa questions per fold
METRICS = {"truthful_qa": ["mc1"], "nq_open": ["exact_match"]}


def _run(variant, fold, mc1, em, seed=None, ids=None):
    ids = ids or [f"t{fold}-{i}" for i in range(N)]
    res = {"truthful_qa": {"ids": ids, "items": {"mc1": mc1}, "metrics": {"mc1": sum(mc1) / N}, "n": N},
           "nq_open": {"ids": ["q0", "q1"], "items": {"exact_match": em}, "metrics": {"exact_match": 0.5}, "n": 2}}
    return {"variant": variant, "seed": seed, "fold": fold, "results": res,
            "train": {"steps_done": 8, "epochs": 1.07, "n_train_questions": 30} if seed is not None else None}


def _runs():
    base = [0.0] * 20 + [1.0] * 10  # 10 of 30 right
    good = [1.0] * 30  # right everywhere: +20 items of 30 in each fold
    worse = [0.0] * 30  # loses the base model's 10
    runs = []
    for f in (0, 1):
        runs.append(_run("base", f, base, [0.0, 1.0]))
        runs.append(_run("dola_high", f, worse, [0.0, 1.0]))
        for s in (0, 1):
            runs.append(_run("eavss", f, good, [1.0, 0.0], seed=s))
            runs.append(_run("random", f, good if s == 0 else base, [0.0, 1.0], seed=s))
    return runs


def test_intervals_verdicts_and_seed_spread():
    res = compare_all(_runs(), METRICS, n_boot=500, seed=0)
    row = {(r["variant"], r["task"]): r for r in res["rows"]}
    ev = row[("eavss", "truthful_qa")]
    assert ev["value"] == 1.0 and ev["base"] == pytest.approx(1 / 3) and ev["n"] == 60
    assert ev["n_per_fold"] == [N, N] and ev["verdict"] == "improvement" and ev["ci"]["low"] > 0
    assert ev["per_seed"] == [1.0, 1.0] and ev["seed_sd"] == 0.0
    rnd = row[("random", "truthful_qa")]  # seed 0 perfect, seed 1 = base: mean per item, spread over seeds
    assert rnd["value"] == pytest.approx(2 / 3) and rnd["per_seed"] == pytest.approx([1.0, 1 / 3])
    assert rnd["seed_sd"] == pytest.approx(0.4714, abs=1e-4)
    assert row[("dola_high", "truthful_qa")]["verdict"] == "worse"
    assert row[("random", "nq_open")]["verdict"] == "indistinguishable"  # identical to base on every item
    assert row[("random", "nq_open")]["ci"]["low"] == row[("random", "nq_open")]["ci"]["high"] == 0.0
    vs = {(d["control"], d["task"]): d for d in res["eavss_vs"]}
    assert vs[("random", "truthful_qa")]["diff"] == pytest.approx(1 / 3)
    assert vs[("random", "truthful_qa")]["verdict"] == "improvement"
    assert vs[("dola_high", "truthful_qa")]["verdict"] == "improvement"
    assert vs[("random", "nq_open")]["verdict"] == "indistinguishable"  # 2 items per fold decide nothing
    text = summary_text(res, {"steps": [8], "epochs": [1.07]})
    assert "EAVSS minus **random**: **yes** on truthful_qa" in text
    assert "indistinguishable at n = 4" in text and "truthful_qa 30/30" in text and "'epochs': [1.07]" in text
    assert "**dola_high**: an improvement on 0 of 2 metrics" in text
    table = markdown_table(res)
    assert "| eavss | truthful_qa | mc1 | 1.0000 | 0.0000 | 0.3333 |" in table and "| random | truthful_qa | mc1 |" in table
    nested = nested_metrics(res)
    assert nested["eavss"]["truthful_qa"]["mc1"]["abs_change"] == pytest.approx(2 / 3)
    assert nested["eavss_vs"]["random"]["truthful_qa"]["mc1"]["verdict"] == "improvement"
    assert compare_all(_runs(), METRICS, n_boot=500, seed=0) == res  # seeded: same numbers


def test_pairing_and_completeness_are_checked():
    runs = _runs()
    other = [r for r in runs if not (r["variant"] == "eavss" and r["seed"] == 1 and r["fold"] == 1)]
    with pytest.raises(PipelineError, match=r"eavss seed 1 has folds \[0\], expected \[0, 1\]"):
        compare_all(other, METRICS, n_boot=10)
    shuffled = [dict(r) for r in runs]
    bad = next(r for r in shuffled if r["variant"] == "random")
    bad["results"] = {**bad["results"], "truthful_qa": {**bad["results"]["truthful_qa"],
                                                         "ids": list(reversed(bad["results"]["truthful_qa"]["ids"]))}}
    with pytest.raises(PipelineError, match="other truthful_qa documents than the base model"):
        compare_all(shuffled, METRICS, n_boot=10)
    with pytest.raises(PipelineError, match="base model's evaluation is missing"):
        compare_all([r for r in runs if r["variant"] != "base"], METRICS, n_boot=10)
    no_items = [dict(r, results={k: {kk: vv for kk, vv in v.items() if kk != "items"} for k, v in r["results"].items()})
                for r in runs]
    with pytest.raises(PipelineError, match="no per-item values of truthful_qa/mc1"):
        compare_all(no_items, METRICS, n_boot=10)
    with pytest.raises(PipelineError, match="evaluate_hallucination.bootstrap.n_boot"):
        compare_all(runs, METRICS, n_boot=0)


def test_write_report_files(tmp_path):
    paths = []
    for i, r in enumerate(_runs()):
        paths.append(tmp_path / f"run{i}.json")
        paths[-1].write_text(json.dumps(r))
    out = {k: tmp_path / f"{k}.{ext}" for k, ext in (("metrics", "json"), ("table", "md"), ("summary", "md"),
                                                     ("plot", "png"))}
    write_report([str(p) for p in paths], METRICS, str(out["metrics"]), str(out["table"]), str(out["summary"]),
                 str(out["plot"]), n_boot=200, seed=0)
    assert all(p.is_file() and p.stat().st_size > 0 for p in out.values())
    summary = out["summary"].read_text()
    assert "'steps': [8]" in summary and "'seeds': [0, 1]" in summary
    assert json.loads(out["metrics"].read_text())["eavss"]["truthful_qa"]["mc1"]["verdict"] == "improvement"
