"""Typed parameter models -> the JSON schemas of workflow/schemas (one source per parameter).

Each params.yaml section has one pydantic model (src/avss/params.py, src/ball3d/params.py): its fields carry
the type, the default (equal to params.yaml: tests/test_params_models.py), the valid range and the
description. :func:`schema_of` turns a model into the JSON schema that ``pipeutil.params.validate_params``
checks params.yaml against; ``make schemas`` (workflow/scripts/gen_schemas.py) writes them.

Mapping: float/int/bool/str -> number/integer/boolean/string; ``X | None`` -> ``type: [x, "null"]``;
``Literal[...]`` -> ``enum``; ``list[X]`` -> array of X; ``dict[str, X]`` -> object of X; a nested model ->
an object with ``additionalProperties: false``; ``gt/ge/lt/le/multiple_of`` -> exclusiveMinimum / minimum /
exclusiveMaximum / maximum / multipleOf; ``min_length/max_length`` -> minItems/maxItems (lists) or
minLength/maxLength (strings); ``pattern`` -> pattern. A field's ``json_schema_extra`` is merged last
(JSON-schema rules that have no Python type: if/then, oneOf, propertyNames, ...); its key ``x-required``
puts the field in its object's ``required`` list.
"""
from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

import annotated_types as at
import yaml
from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.fields import FieldInfo

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
_BASE = {float: "number", int: "integer", bool: "boolean", str: "string"}


def _field(default, description: str, required: bool, schema: dict | None, **kw) -> Any:
    extra = {**(schema or {}), **({"x-required": True} if required else {})}
    if isinstance(default, type) and issubclass(default, BaseModel):
        kw["default_factory"] = default
    else:
        kw["default"] = default
    return Field(description=description or None, json_schema_extra=extra or None, **kw)


def Req(default, description: str = "", *, schema: dict | None = None, **constraints) -> Any:
    """A key params.yaml must give; ``default`` (= its params.yaml value, or a nested model class) is what
    code and tests get when they build the model themselves; ``schema``: JSON-schema rules without a Python type."""
    return _field(default, description, True, schema, **constraints)


def Opt(default, description: str = "", *, schema: dict | None = None, **constraints) -> Any:
    """A key params.yaml may leave out (then ``default``)."""
    return _field(default, description, False, schema, **constraints)


def Absent(description: str = "", *, schema: dict | None = None, **constraints) -> Any:
    """A key params.yaml may leave out and does not give: None, the consuming code decides (documented there)."""
    return _field(None, description, False, schema, validate_default=False, **constraints)


def Given(description: str = "", *, schema: dict | None = None, **constraints) -> Any:
    """A key every entry of a mapping or list must give (no section default)."""
    return _field(..., description, True, schema, **constraints)


class Section(BaseModel):
    """A params.yaml mapping: unknown keys are errors, defaults are validated like given values."""
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)


def _type_schema(tp) -> dict:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _constrain(_type_schema(args[0]), args[1:], args[0])
    if tp is Any:
        return {}
    if tp in _BASE:
        return {"type": _BASE[tp]}
    if tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return object_schema(tp)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and len(args) == 2:
            s = _type_schema(inner[0])
            if "type" in s:
                return {**s, "type": [s["type"], "null"] if isinstance(s["type"], str) else [*s["type"], "null"]}
            if "enum" in s:
                return {**s, "enum": [*s["enum"], None]}
        return {"anyOf": [_type_schema(a) for a in args]}
    if origin is list:
        return {"type": "array", **({"items": _type_schema(args[0])} if args and args[0] is not Any else {})}
    if origin is dict:
        return {"type": "object", **({"additionalProperties": _type_schema(args[1])}
                                     if len(args) == 2 and args[1] is not Any else {})}
    raise TypeError(f"no JSON schema for the parameter type {tp!r}")


def _constrain(schema: dict, metadata, tp) -> dict:
    base = typing.get_args(tp)[0] if typing.get_origin(tp) in (Union, types.UnionType) else tp
    is_list = typing.get_origin(base) is list or schema.get("type") in ("array", ["array", "null"])
    flat = []
    for m in metadata:  # Annotated[float, Field(ge=0)] carries a FieldInfo whose metadata holds the bounds
        flat.extend(m.metadata if isinstance(m, FieldInfo) else [m])
    for m in flat:
        for name, key in (("gt", "exclusiveMinimum"), ("ge", "minimum"), ("lt", "exclusiveMaximum"),
                          ("le", "maximum"), ("multiple_of", "multipleOf")):
            if isinstance(m, getattr(at, {"gt": "Gt", "ge": "Ge", "lt": "Lt", "le": "Le",
                                          "multiple_of": "MultipleOf"}[name])):
                schema[key] = getattr(m, name)
        if isinstance(m, at.MinLen):
            schema["minItems" if is_list else "minLength"] = m.min_length
        elif isinstance(m, at.MaxLen):
            schema["maxItems" if is_list else "maxLength"] = m.max_length
        elif hasattr(m, "pattern") and isinstance(m.pattern, str):
            schema["pattern"] = m.pattern
    return schema


def field_schema(info) -> dict:
    schema = _constrain(_type_schema(info.annotation), info.metadata, info.annotation)
    if info.description:
        schema["description"] = info.description
    extra = dict(info.json_schema_extra or {})
    extra.pop("x-required", None)
    schema.update(extra)
    return schema


def object_schema(model: type[BaseModel]) -> dict:
    props = {name: field_schema(info) for name, info in model.model_fields.items()}
    required = [name for name, info in model.model_fields.items()
                if (info.json_schema_extra or {}).get("x-required")]
    out: dict = {"type": "object", "additionalProperties": False}
    if required:
        out["required"] = required
    out["properties"] = props
    out.update(model.model_config.get("json_schema_extra") or {})
    return out


def schema_of(model: type[BaseModel]) -> dict:
    """The JSON schema of a params.yaml section: ``$schema``, the model's docstring as description, the object."""
    doc = " ".join((model.__doc__ or "").split())
    if issubclass(model, RootModel):  # a mapping name -> entry (params.yaml: datasets)
        body = {**field_schema(model.model_fields["root"]), **(model.model_config.get("json_schema_extra") or {})}
    else:
        body = object_schema(model)
    return {"$schema": SCHEMA_URI, **({"description": doc} if doc else {}), **body}


def render(model: type[BaseModel]) -> str:
    """The text of workflow/schemas/<section>.schema.yaml for ``model`` (a generated file: say so)."""
    head = ("# GENERATED by `make schemas` (workflow/scripts/gen_schemas.py) from the model of this section\n"
            f"# ({model.__module__}.{model.__qualname__}): edit the model, not this file.\n")
    return head + yaml.safe_dump(schema_of(model), sort_keys=False, allow_unicode=True, width=120)


def _plain(value):
    if isinstance(value, RootModel):
        return _plain(value.root)
    if isinstance(value, BaseModel):
        return defaults(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def defaults(model: type[BaseModel] | BaseModel) -> dict | list:
    """The default values of a section model (or the values of an instance) as plain YAML data; an optional
    key without a default (``Field(None, validate_default=False)``: absent from params.yaml) is left out
    unless it was given."""
    inst = model() if isinstance(model, type) else model
    if isinstance(inst, RootModel):
        return _plain(inst.root)
    return {name: _plain(getattr(inst, name)) for name, info in type(inst).model_fields.items()
            if name in inst.model_fields_set or info.validate_default is not False}


def drift(expected, actual, path: str = "") -> list[str]:
    """Key paths where two YAML values differ (a bool never equals a number, 1 equals 1.0)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return [p for k in sorted(set(expected) | set(actual), key=str)
                for p in (drift(expected[k], actual[k], f"{path}.{k}" if path else str(k))
                          if k in expected and k in actual else [f"{path}.{k}" if path else str(k)])]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [p for i, (a, b) in enumerate(zip(expected, actual)) for p in drift(a, b, f"{path}[{i}]")]
    same = expected == actual and isinstance(expected, bool) == isinstance(actual, bool)
    return [] if same else [path]
