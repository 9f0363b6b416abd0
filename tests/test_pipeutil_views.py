"""pipeutil.views: headline figures, DVC curves and HTML tables of a phase's detail files."""
import json

import pytest

from pipeutil.dvcgen import data_plots
from pipeutil.io import PipelineError
from pipeutil.views import (curve_axes, headline, pick, series_points, table_html, write_curves,
                            write_headline, write_tables)

DOC = {"avss": {"0.25": {"sciq": {"acc": {"retention": 0.8123456, "score": 0.5}},
                         "wiki": {"ppl": {"retention": None}}}},
       "scenes": [{"rmse_m": 0.0123}], "flag": True, "text": "x", "inf": float("inf")}


def test_pick_follows_keys_with_dots_and_list_indices():
    assert pick(DOC, "avss/0.25/sciq/acc/score", "m.json") == 0.5
    assert pick(DOC, "scenes/0/rmse_m", "m.json") == 0.0123


@pytest.mark.parametrize("path, part", [("avss/0.5/sciq", "0.5"), ("scenes/3/rmse_m", "3"), ("avss/0.25/x", "x")])
def test_pick_names_the_file_the_path_and_the_missing_part(path, part):
    with pytest.raises(PipelineError, match=rf"m\.json: no '{path}' \(missing part '{part}'\)"):
        pick(DOC, path, "m.json")


def test_headline_scales_rounds_and_keeps_undefined_values_null():
    spec = {"ret": ["avss/0.25/sciq/acc/retention", 1], "ppl": ["avss/0.25/wiki/ppl/retention", 1],
            "rmse_cm": ["scenes/0/rmse_m", 100], "inf": ["inf", 1]}
    assert headline(DOC, spec, "m.json") == {"ret": 0.8123, "ppl": None, "rmse_cm": 1.23, "inf": None}


@pytest.mark.parametrize("path", ["flag", "text", "avss/0.25"])
def test_headline_of_something_that_is_not_a_number_is_an_error(path):
    with pytest.raises(PipelineError, match="expected a number for headline 'h'"):
        headline(DOC, {"h": [path, 1]}, "m.json")


def test_write_headline_leaves_nothing_when_the_spec_drifted(tmp_path):
    src = tmp_path / "metrics.json"
    src.write_text(json.dumps(DOC))
    out = tmp_path / "headline.json"
    with pytest.raises(PipelineError, match="no 'avss/0.5/sciq'"):
        write_headline(src, {"h": ["avss/0.5/sciq", 1]}, out)
    assert list(tmp_path.iterdir()) == [src]
    write_headline(src, {"h": ["avss/0.25/sciq/acc/score", 1]}, out)
    assert json.loads(out.read_text()) == {"h": 0.5}


ROWS = [{"method": "avss", "ratio": "0.25", "task": "sciq", "primary": "True", "retention": "0.8"},
        {"method": "avss", "ratio": "0.25", "task": "wiki", "primary": "True", "retention": "0.6"},
        {"method": "avss", "ratio": "0.25", "task": "sciq", "primary": "False", "retention": "0.1"},
        {"method": "avss", "ratio": "0.125", "task": "sciq", "primary": "True", "retention": ""},
        {"method": "avss", "ratio": "0.0", "task": "sciq", "primary": "True", "retention": "1.0"},
        {"method": "random", "ratio": "0.25", "task": "sciq", "primary": "True", "retention": "0.3"}]


def test_series_points_filter_average_per_x_and_skip_undefined_values():
    pts = series_points(ROWS, "ratio", "retention", "method", "avss", {"primary": "True"})
    assert pts == [(0.0, 1.0), (0.25, pytest.approx(0.7))]
    assert series_points(ROWS, "ratio", "retention", "method", "random", None) == [(0.25, 0.3)]


def test_curves_one_file_per_series_named_by_its_folder(tmp_path):
    src = tmp_path / "sweeps.json"
    src.write_text(json.dumps({"sweeps_mean": [
        {"axis": "n_cameras", "value": 3, "method": "ransac", "rmse_m": 0.04},
        {"axis": "n_cameras", "value": 8, "method": "ransac", "rmse_m": 0.02},
        {"axis": "noise_px", "value": 2.0, "method": "ransac", "rmse_m": 0.09},
        {"axis": "n_cameras", "value": 3, "method": "dlt", "rmse_m": 10.0}]}))
    outs = [str(tmp_path / "curves/rmse_m_vs_n_cameras" / f"{m}.csv") for m in ("ransac", "dlt")]
    write_curves({"source": str(src), "rows": "sweeps_mean", "series": "method",
                  "where": {"axis": "n_cameras"}, "columns": {"n_cameras": "value"}}, outs)
    assert (tmp_path / "curves/rmse_m_vs_n_cameras/ransac.csv").read_text() == "n_cameras,rmse_m\n3.0,0.04\n8.0,0.02\n"
    assert (tmp_path / "curves/rmse_m_vs_n_cameras/dlt.csv").read_text() == "n_cameras,rmse_m\n3.0,10.0\n"
    with pytest.raises(PipelineError, match="not named <y>_vs_<x>"):
        curve_axes(tmp_path / "curves/rmse")
    with pytest.raises(PipelineError, match="'sweeps_mean/0' is not a list of records"):
        write_curves({"source": str(src), "rows": "sweeps_mean/0"}, outs)


def test_dvc_data_plots_one_plot_per_curves_folder_one_line_per_file():
    outs = {"results/p/curves/retention_vs_ratio/avss.csv", "results/p/curves/retention_vs_ratio/random.csv",
            "results/p/metrics.json", "results/p/table.csv"}
    assert data_plots("p", outs) == [{"p/retention_vs_ratio": {
        "template": "linear", "x": "ratio", "title": "p: retention vs ratio",
        "y": {"results/p/curves/retention_vs_ratio/avss.csv": "retention",
              "results/p/curves/retention_vs_ratio/random.csv": "retention"}}}]


def test_tables_render_csv_tsv_and_markdown_as_html(tmp_path):
    (tmp_path / "r.csv").write_text("method,retention\navss,0.8123456\n<b>,x\n")
    (tmp_path / "m.tsv").write_text("name\tsha256\nmodel\tabc\n")
    (tmp_path / "s.md").write_text("# Summary\n\n| a | b |\n|---|---|\n| 1 | <i>2</i> |\n\ntext\n")
    csv_page = table_html(tmp_path / "r.csv")
    assert "<th>retention</th>" in csv_page and '<td class="num">0.81235</td>' in csv_page
    assert "&lt;b&gt;" in csv_page and "<b>" not in csv_page  # cells are escaped
    assert "<td>abc</td>" in table_html(tmp_path / "m.tsv")
    md_page = table_html(tmp_path / "s.md")
    assert "<table>" in md_page and "<h1>Summary</h1>" in md_page and "&lt;i&gt;" in md_page
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(PipelineError, match=r"x\.json: expected a \.csv, \.tsv or \.md file"):
        table_html(tmp_path / "x.json")
    with pytest.raises(PipelineError, match="cannot read table"):
        table_html(tmp_path / "missing.csv")
    with pytest.raises(PipelineError, match="2 tables for 1 HTML outputs"):
        write_tables([str(tmp_path / "r.csv"), str(tmp_path / "m.tsv")], [str(tmp_path / "o.html")])
