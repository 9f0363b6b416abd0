"""Validate params.yaml: one JSON schema (YAML file) per top-level section.

``workflow/schemas/<section>.schema.yaml`` describes ``params.yaml: <section>``. An unknown
section, a missing section or an invalid value stops the run with a message naming the key.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import jsonschema
import yaml

from .io import PipelineError


def load_schemas(schema_dir: str | Path) -> dict[str, dict]:
    return {p.name.removesuffix(".schema.yaml"): yaml.safe_load(p.read_text())
            for p in sorted(Path(schema_dir).glob("*.schema.yaml"))}


def validate_params(config: dict, schema_dir: str | Path, source: str = "params.yaml") -> None:
    schemas = load_schemas(schema_dir)
    for key in config:
        if key not in schemas:
            hint = difflib.get_close_matches(key, schemas, n=1)
            raise PipelineError(f"{source}: unknown section {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                                + f"; known sections: {sorted(schemas)}")
    for section, schema in schemas.items():
        if section not in config:
            raise PipelineError(f"{source}: missing section {section!r}")
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(config[section]), key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            where = ".".join([section, *map(str, err.absolute_path)])
            raise PipelineError(f"{source}: {where}: {err.message}")
