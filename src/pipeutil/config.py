"""One loader from a params.yaml section (a dict) to the typed config record a library function takes.

``from_params(cls, d, where)`` builds the dataclass ``cls`` from ``d``: an unknown key is an error that
names ``where`` (the params.yaml key path) and the closest known key ("did you mean"); a missing key keeps
the record's default (equal to params.yaml: tests/test_params_models.py checks it); a list given for a
field whose default is a tuple becomes a tuple (YAML has no tuples).
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, TypeVar

from .io import PipelineError

T = TypeVar("T")


def unknown_key_error(where: str, unknown: list, known) -> PipelineError:
    """The error for unknown keys of the mapping at ``where``, with the closest known key as a hint."""
    hints = [f"{m[0]!r}" + (f" for {k!r}" if len(unknown) > 1 else "") for k in unknown
             if (m := difflib.get_close_matches(str(k), [str(x) for x in known], n=1))]
    return PipelineError(f"{where}: unknown keys {sorted(map(str, unknown))}"
                         + (f" (did you mean {', '.join(hints)}?)" if hints else "")
                         + f"; known keys: {sorted(map(str, known))}")


def from_params(cls: type[T], d: dict[str, Any] | None, where: str = "params.yaml", skip: tuple[str, ...] = ()) -> T:
    """``cls(**d)`` for a dataclass ``cls``; keys in ``skip`` belong to the section but not to ``cls``."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    d = {k: v for k, v in (d or {}).items() if k not in skip}
    unknown = [k for k in d if k not in fields]
    if unknown:
        raise unknown_key_error(where, unknown, [*fields, *skip])
    kwargs = {}
    for key, val in d.items():
        if isinstance(val, list) and isinstance(fields[key].default, tuple):
            val = tuple(val)
        kwargs[key] = val
    return cls(**kwargs)
