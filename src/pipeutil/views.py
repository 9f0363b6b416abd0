"""Views of a phase's results that people and DVC read: headline figures, curves, HTML tables.

A phase's detail files (metrics.json, retention.csv, ...) stay as they are; a ``<phase>_views`` rule
turns them into
- ``headline.json``: a few flat numbers (the figures `dvc metrics show` prints by default; the detail
  files are read on request: ``dvc metrics show results/detect/metrics.json``);
- ``curves/<y>_vs_<x>/<series>.csv``: two-column tables, one file per line of a DVC data plot
  (workflow/scripts/gen_dvc.py declares every such folder as one plot, x and y from its name);
- ``tables/<name>.html``: a CSV/TSV/Markdown table rendered as an HTML page for the Snakemake report,
  which shows HTML and images inline and offers every other file for download only.

Specifications are plain data in the rule's params, so a rule file says what its headline is.
"""
from __future__ import annotations

import csv
import html
import io
import math
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt  # a dependency of rich, locked in requirements.lock

from .io import PipelineError, atomic_path, read_json, write_json, write_text


# ------------------------------------------------------------------------------------------- headline
def pick(doc: Any, path: str, where: str) -> Any:
    """The value at ``path`` of ``doc`` (``a/b/0/c``: dict keys, list indices; keys may hold dots, e.g. a ratio 0.25); an error names it."""
    node = doc
    for part in path.split("/"):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PipelineError(f"{where}: no {path!r} (missing part {part!r})")
    return node


def headline(doc: Any, spec: dict[str, list], where: str, digits: int = 4) -> dict[str, float | None]:
    """Flat headline figures: ``{column: [path, scale]}`` -> ``{column: value * scale}`` rounded.

    A missing path is an error (the spec drifted from the detail file); a null value (e.g. a retention
    that is undefined because the dense score is 0) stays null, and so does a non-finite one.
    """
    out: dict[str, float | None] = {}
    for column, (path, scale) in spec.items():
        value = pick(doc, path, where)
        if value is None:
            out[column] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PipelineError(f"{where}: {path!r} is {value!r}, expected a number for headline {column!r}")
        value = float(value) * float(scale)
        out[column] = round(value, digits) if math.isfinite(value) else None
    return out


def write_headline(source: str | Path, spec: dict[str, list], out: str | Path) -> dict:
    values = headline(read_json(source, "metrics file"), spec, str(source))
    write_json(out, values)
    return values


# --------------------------------------------------------------------------------------------- curves
def curve_rows(source: str | Path, rows_at: str | None) -> list[dict]:
    """The rows of a curve's source: a CSV file, or the list at ``rows_at`` (a/b path) of a JSON file."""
    source = Path(source)
    if source.suffix == ".csv":
        with open(source, newline="") as f:
            return list(csv.DictReader(f))
    rows = pick(read_json(source, "curve source"), rows_at, str(source)) if rows_at else read_json(source)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise PipelineError(f"{source}: {rows_at!r} is not a list of records")
    return rows


def _number(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def series_points(rows: list[dict], x: str, y: str, series: str | None, name: str,
                  where: dict[str, Any] | None = None) -> list[tuple[float, float]]:
    """Points (x, mean of y) of one series: rows whose ``series`` column is ``name`` (all rows when
    ``series`` is None) and that match ``where``; rows without a numeric y are left out (undefined
    retention), and several rows at one x are averaged (e.g. the tasks of one pruning ratio).
    """
    sums: dict[float, list[float]] = {}
    for row in rows:
        if series is not None and str(row.get(series)) != name:
            continue
        if where and any(str(row.get(k)) != str(v) for k, v in where.items()):
            continue
        xv, yv = _number(row.get(x)), _number(row.get(y))
        if xv is None or yv is None:
            continue
        sums.setdefault(xv, []).append(yv)
    return [(xv, sum(ys) / len(ys)) for xv, ys in sorted(sums.items())]


def write_curve(path: str | Path, x: str, y: str, points: list[tuple[float, float]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([x, y])
    for xv, yv in points:
        w.writerow([repr(xv), repr(round(yv, 6))])
    write_text(path, buf.getvalue())


def curve_axes(folder: str | Path) -> tuple[str, str]:
    """(x, y) of a curves folder named ``<y>_vs_<x>``."""
    name = Path(folder).name
    if "_vs_" not in name:
        raise PipelineError(f"curves folder {folder} is not named <y>_vs_<x>")
    y, x = name.split("_vs_", 1)
    return x, y


def write_curves(spec: dict, outputs: list[str]) -> None:
    """One CSV per series: ``outputs`` are ``.../curves/<y>_vs_<x>/<series>.csv``; ``spec`` has
    ``source``, optional ``rows`` (a/b path of the list in a JSON source), optional ``series`` (the
    column that names a row's series; without it every output gets all rows), ``where`` (column ->
    required value) and ``columns`` (axis name -> the rows' column, when they differ).
    """
    rows = curve_rows(spec["source"], spec.get("rows"))
    columns = spec.get("columns", {})
    for out in outputs:
        x, y = curve_axes(Path(out).parent)
        name = Path(out).stem
        points = series_points(rows, columns.get(x, x), columns.get(y, y), spec.get("series"), name,
                               spec.get("where"))
        write_curve(out, x, y, points)


# --------------------------------------------------------------------------------------------- tables
_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="source" content="{source}"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em 0; }}
th, td {{ border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; }}
th {{ background: #eee; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
</style></head>
<body>
<h3>{title}</h3>
{body}
</body></html>
"""


def _cell(value: str) -> str:
    num = _number(value)
    if num is not None and value.strip() not in ("True", "False"):
        text = f"{num:.5g}" if ("." in value or "e" in value.lower()) else value
        return f'<td class="num">{html.escape(text)}</td>'
    return f"<td>{html.escape(value)}</td>"


def delimited_html(text: str, delimiter: str) -> str:
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        return "<p>(empty table)</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "\n".join("<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows[1:])
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>\n<p>{len(rows) - 1} rows</p>"


def markdown_html(text: str) -> str:
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def table_html(source: str | Path, title: str | None = None) -> str:
    """An HTML page of a .csv / .tsv / .md file (markdown: prose and pipe tables)."""
    source = Path(source)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"cannot read table {source}: {exc}") from exc
    kinds = {".csv": lambda t: delimited_html(t, ","), ".tsv": lambda t: delimited_html(t, "\t"),
             ".md": markdown_html}
    if source.suffix not in kinds:
        raise PipelineError(f"table {source}: expected a .csv, .tsv or .md file")
    return _PAGE.format(title=html.escape(title or source.name), source=html.escape(source.name),
                        body=kinds[source.suffix](text))


def write_tables(sources: list[str], outputs: list[str]) -> None:
    if len(sources) != len(outputs):
        raise PipelineError(f"{len(sources)} tables for {len(outputs)} HTML outputs")
    for src, out in zip(sources, outputs):
        with atomic_path(out) as tmp:
            Path(tmp).write_text(table_html(src), encoding="utf-8")
