"""Check normalised dataset rows against the layouts of ``avss.records`` (at download, before any phase reads them).

Each row must be a JSON object with a unique non-empty string ``id`` and its kind's fields with the right
types; indices (``gold``, ``label``) must point into their lists, lists of choices / answers must not
be empty. The first bad row stops the download with its line (or row) number and the field.
"""
from __future__ import annotations

from collections.abc import Sequence

from avss.records import KINDS
from pipeutil.io import PipelineError

# kind -> field -> (type, non-empty): "str", "strs" (list of str), "int", "ints01" (list of 0/1)
FIELDS = {
    "mc": {"question": ("str", True), "context": ("str", False), "choices": ("strs", True), "gold": ("int", False)},
    "gen_qa": {"question": ("str", True), "answers": ("strs", True)},
    "classification": {"text": ("str", True), "label": ("int", False), "label_names": ("strs", True)},
    "truthfulqa": {"question": ("str", True), "category": ("str", False), "best_answer": ("str", True),
                   "true_answers": ("strs", True), "false_answers": ("strs", True)},
    "ranking": {"question": ("str", True), "candidates": ("strs", True), "labels": ("ints01", True)},
}


def _type_error(kind: str, value, non_empty: bool) -> str | None:
    if kind == "str":
        if not isinstance(value, str):
            return f"expected a string, got {type(value).__name__}"
        return "is empty" if non_empty and not value.strip() else None
    if kind == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else \
            f"expected an integer, got {type(value).__name__} {value!r}"
    if not isinstance(value, list):
        return f"expected a list, got {type(value).__name__}"
    if non_empty and not value:
        return "is an empty list"
    if kind == "strs":
        bad = [v for v in value if not isinstance(v, str) or not v.strip()]
        return f"every entry must be a non-empty string, got {bad[0]!r}" if bad else None
    bad = [v for v in value if v not in (0, 1) or isinstance(v, bool)]
    return f"every entry must be 0 or 1, got {bad[0]!r}" if bad else None


def _row_error(kind: str, row) -> str | None:
    """What is wrong with one row ("field 'x': ..."), or None."""
    if not isinstance(row, dict):
        return f"expected a JSON object, got {type(row).__name__}"
    if not isinstance(row.get("id"), str) or not row["id"]:
        return f"field 'id': expected a non-empty string, got {row.get('id')!r}"
    for name, (typ, non_empty) in FIELDS[kind].items():
        if name not in row:
            return f"field {name!r} is missing (a {kind} row has {['id', *FIELDS[kind]]})"
        err = _type_error(typ, row[name], non_empty)
        if err:
            return f"field {name!r}: {err}"
    if kind == "mc" and not 0 <= row["gold"] < len(row["choices"]):
        return f"field 'gold': {row['gold']} is not an index of the {len(row['choices'])} choices"
    if kind == "mc" and len(row["choices"]) < 2:
        return "field 'choices': needs at least 2 choices"
    if kind == "classification" and not 0 <= row["label"] < len(row["label_names"]):
        return f"field 'label': {row['label']} is not an index of label_names {row['label_names']}"
    if kind == "ranking" and len(row["labels"]) != len(row["candidates"]):
        return f"field 'labels': {len(row['labels'])} labels for {len(row['candidates'])} candidates"
    return None


def check_rows(name: str, rows: Sequence, origin: str, lines: Sequence[int] | None = None) -> None:
    """PipelineError at the first bad row of dataset ``name``; ``lines[i]`` = line of row i in ``origin``."""
    kind = KINDS.get(name)
    if kind not in FIELDS:
        return
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        at = f"line {lines[i]}" if lines is not None else f"row {i + 1}"
        err = _row_error(kind, row)
        if err is None and row["id"] in seen:
            err = f"field 'id': {row['id']!r} already used by {'line' if lines is not None else 'row'} {seen[row['id']]}"
        if err:
            raise PipelineError(f"datasets.{name}: {origin} {at}: {err}")
        seen[row["id"]] = lines[i] if lines is not None else i + 1
