"""Turn a pydantic ValidationError into one line a user can act on."""

from __future__ import annotations

import annotated_types
from pydantic import BaseModel, ValidationError

from advisor._suggest import did_you_mean


def describe_validation_error(err: ValidationError, model: type[BaseModel], source: str) -> str:
    """'answers.yaml: goals.max_accuracy_drop: must be between 0 and 1' (first error, plus a count)."""
    errors = err.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    where = ".".join(str(part) for part in loc) or "(top level)"
    line = f"{source}: {where}: {_message(first, model, loc)}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return line


def _message(error: dict, model: type[BaseModel], loc: tuple) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = list(parent.model_fields) if parent else []
        return f"unknown key{did_you_mean(loc[-1], known)}; known keys: {', '.join(known)}"
    if kind == "missing":
        return "required"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _range_message(model, loc)
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type"):
        return f"must be a number, not {error['input']!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {error['input']!r}"
    if kind in ("string_type",):
        return f"must be a string, not {error['input']!r}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return error["msg"]


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    current = model
    for part in loc:
        field = current.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        current = field.annotation
    return current


def _range_message(model: type[BaseModel], loc: tuple) -> str:
    parent = _model_at(model, loc[:-1])
    field = parent.model_fields[str(loc[-1])] if parent else None
    low = high = None
    for meta in field.metadata if field else ():
        if isinstance(meta, (annotated_types.Gt, annotated_types.Ge)):
            low = (getattr(meta, "gt", None), ">") if isinstance(meta, annotated_types.Gt) else (meta.ge, ">=")
        if isinstance(meta, (annotated_types.Lt, annotated_types.Le)):
            high = (getattr(meta, "lt", None), "<") if isinstance(meta, annotated_types.Lt) else (meta.le, "<=")
    if low and high:
        bounds = "exclusive" if (low[1], high[1]) == (">", "<") else "inclusive" if (low[1], high[1]) == (">=", "<=") else None
        tail = f" ({bounds})" if bounds else f" ({low[1]} {_num(low[0])} and {high[1]} {_num(high[0])})"
        return f"must be between {_num(low[0])} and {_num(high[0])}{tail}"
    if low:
        return f"must be {'greater than' if low[1] == '>' else 'at least'} {_num(low[0])}"
    if high:
        return f"must be {'less than' if high[1] == '<' else 'at most'} {_num(high[0])}"
    return "out of range"


def _num(value) -> str:
    return f"{value:g}"
