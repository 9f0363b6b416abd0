"""Validate params.yaml: one JSON schema (YAML file) per top-level section.

``workflow/schemas/<section>.schema.yaml`` describes ``params.yaml: <section>``. An unknown
section, a missing section, an invalid value or a number that is not finite (NaN, inf) stops the run
with a message naming the key and, when the parameter files are given, the file and line the value
came from (``params.yaml:12``, ``my.yaml:3`` for a value of ``--configfile my.yaml``, ``--config``).

The files are read strictly (:func:`read_param_files`): a YAML syntax error names the file and line,
and a key given twice in one mapping is an error (plain YAML keeps the last one silently).
``python -m pipeutil.params FILE...`` checks files the same way (Snakemake itself reads ``--configfile``
files before the workflow starts, and its YAML error names neither the file nor the line).
"""
from __future__ import annotations

import difflib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from .config import unknown_key_error
from .io import PipelineError


@dataclass
class ParamFiles:
    """The parameter files in merge order (later ones override), their merged content, and key origins."""
    paths: list[str]
    merged: dict = field(default_factory=dict)
    origin: dict[tuple, str] = field(default_factory=dict)  # key path -> "file:line"


def _key(loader: yaml.SafeLoader, node: yaml.Node):
    return loader.construct_object(node, deep=True)


def _walk(node: yaml.Node, path: tuple, name: str, loader, lines: dict, mappings: set) -> None:
    """Key path -> line of every mapping key and list entry below ``node``; duplicate keys raise."""
    if isinstance(node, yaml.MappingNode):
        mappings.add(path)
        seen: dict = {}
        for knode, vnode in node.value:
            key = _key(loader, knode)
            line = knode.start_mark.line + 1
            if key in seen:
                raise PipelineError(f"{name}:{line}: duplicate key {key!r} (first given at line {seen[key]}); "
                                    "remove one of them")
            seen[key] = line
            lines[path + (key,)] = line
            _walk(vnode, path + (key,), name, loader, lines, mappings)
    elif isinstance(node, yaml.SequenceNode):
        for i, vnode in enumerate(node.value):
            lines[path + (i,)] = vnode.start_mark.line + 1
            _walk(vnode, path + (i,), name, loader, lines, mappings)


def read_yaml_strict(path: str | Path, name: str | None = None) -> tuple[dict, dict[tuple, int], set]:
    """(content, key path -> line, key paths holding mappings) of a YAML file; errors name the file and line."""
    name = name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{name}: cannot read the parameter file ({exc})") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise PipelineError(f"{where}: YAML syntax error: {problem}") from exc
    if data is None:
        return {}, {}, set()
    if not isinstance(data, dict):
        raise PipelineError(f"{name}: a parameter file must hold a mapping of sections, not {type(data).__name__}")
    lines: dict[tuple, int] = {}
    mappings: set = set()
    _walk(node, (), name, yaml.SafeLoader(""), lines, mappings)
    return data, lines, mappings


def _merge(base: dict, over: dict) -> None:
    for key, val in over.items():
        if isinstance(val, dict) and isinstance(base.get(key), dict):
            _merge(base[key], val)
        else:
            base[key] = val


def read_param_files(paths: list[str | Path]) -> ParamFiles:
    """Read every file strictly and merge them like Snakemake does (mappings key by key, other values replaced)."""
    out = ParamFiles([str(p) for p in paths])
    for name in out.paths:
        data, lines, mappings = read_yaml_strict(name)
        for path in lines:
            if path in out.origin and path not in mappings:  # a replaced value: forget where the old one's parts came from
                out.origin = {p: o for p, o in out.origin.items() if p[:len(path)] != path or p == path}
        out.origin.update({p: f"{name}:{line}" for p, line in lines.items()})
        _merge(out.merged, data)
    return out


def _get(tree, path: tuple):
    for key in path:
        if not isinstance(tree, (dict, list)):
            return _MISSING
        try:
            tree = tree[key]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return tree


_MISSING = object()


def _same(a, b) -> bool:
    """Equality where NaN equals NaN (a NaN from a file is the file's value, not a --config one)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def origin_of(path: tuple, config: dict, files: ParamFiles | None, default: str) -> str:
    """Where the value at ``path`` came from: "file:line" of the last file that set it, or --config."""
    if files is None:
        return default
    if not _same(_get(config, path), _get(files.merged, path)):
        return "--config"
    for n in range(len(path), 0, -1):
        if path[:n] in files.origin:
            return files.origin[path[:n]]
    return files.paths[0] if files.paths else default


def non_finite(node, path: tuple = ()) -> tuple | None:
    """Key path of the first NaN or infinite number in ``node``, or None."""
    if isinstance(node, float) and not math.isfinite(node):
        return path
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, val in items:
        found = non_finite(val, path + (key,))
        if found is not None:
            return found
    return None


def load_schemas(schema_dir: str | Path) -> dict[str, dict]:
    return {p.name.removesuffix(".schema.yaml"): yaml.safe_load(p.read_text())
            for p in sorted(Path(schema_dir).glob("*.schema.yaml"))}


def _dotted(path: tuple) -> str:
    return ".".join(map(str, path))


def validate_params(config: dict, schema_dir: str | Path, source: str = "params.yaml",
                    files: ParamFiles | None = None) -> None:
    """PipelineError on the first bad value; ``files`` (read_param_files) lets the message name file and line."""
    schemas = load_schemas(schema_dir)
    for key in config:
        if key not in schemas:
            hint = difflib.get_close_matches(key, schemas, n=1)
            raise PipelineError(f"{origin_of((key,), config, files, source)}: unknown section {key!r}"
                                + (f" (did you mean {hint[0]!r}?)" if hint else "") + f"; known sections: {sorted(schemas)}")
    bad = non_finite(config)
    if bad is not None:
        raise PipelineError(f"{origin_of(bad, config, files, source)}: {_dotted(bad)}: {_get(config, bad)} is not a "
                            "finite number (NaN and infinity are not valid parameter values)")
    for section, schema in schemas.items():
        if section not in config:
            raise PipelineError(f"{files.paths[0] if files and files.paths else source}: missing section {section!r}")
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(config[section]), key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            path = (section, *err.absolute_path)
            if err.validator == "additionalProperties" and isinstance(err.instance, dict) and "properties" in err.schema:
                known = err.schema["properties"]
                key = next(k for k in err.instance if k not in known)
                raise unknown_key_error(f"{origin_of(path + (key,), config, files, source)}: {_dotted(path)}",
                                        [k for k in err.instance if k not in known], known)
            raise PipelineError(f"{origin_of(path, config, files, source)}: {_dotted(path)}: {err.message}")


if __name__ == "__main__":  # python -m pipeutil.params FILE...: strict YAML check of parameter files
    try:
        read_param_files(sys.argv[1:])
    except PipelineError as exc:
        sys.exit(f"ERROR: {exc}")
    print(f"ok: {', '.join(sys.argv[1:])}")
