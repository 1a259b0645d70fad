"""The schema's errors as a person reads them: ``path: message``.

Pydantic reports where it was in its own terms: a discriminated union adds the
tag to the location (``targets[0].http.url``), a plain union adds one error per
member (``availability.quorum.constrained-int``), a bad dict key ends in
``[key]``.  Users wrote none of these, so the location is walked along the
schema's types and cut back to the path in the file; the messages of one path
are joined.  An unknown key names the nearest known one.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from slaguard.config.schema import Config

Path = tuple[str | int, ...]


def format_path(loc: Path) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# -- walking the schema along a location ------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """``Annotated[X, …]`` and ``X | None`` → ``X``."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif _is_union(tp) and len(_members(tp)) == 1:
            tp = _members(tp)[0]
        else:
            return tp


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


def _members(tp: Any) -> list[Any]:
    return [a for a in get_args(tp) if a is not type(None)]


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def model_field(model: type[BaseModel], key: object) -> Any:
    """The field of ``model`` named ``key`` (by name or alias), or None."""
    for name, f in model.model_fields.items():
        if key in (name, f.alias):
            return f
    return None


def key_names(model: type[BaseModel]) -> list[str]:
    """The keys a user may write in ``model``: aliases where they exist."""
    return [f.alias or name for name, f in model.model_fields.items()]


def _tagged(tp: Any, tag: object) -> Any:
    """The member of a discriminated union whose ``kind`` is ``tag``, or None."""
    for member in map(_unwrap, _members(tp)):
        kind = model_field(member, "kind") if is_model(member) else None
        if kind is not None and tag in get_args(_unwrap(kind.annotation)):
            return member
    return None


def step(tp: Any, part: object) -> tuple[Any, bool]:
    """The type one step further along a pydantic location, and whether ``part`` is
    one of pydantic's own labels (a union member) rather than a step in the file."""
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if is_model(tp):
        f = model_field(tp, part)
        return (None if f is None else f.annotation), False
    if origin is list:
        return get_args(tp)[0], False
    if origin is tuple:
        args = get_args(tp)
        if isinstance(part, int) and part < len(args) and args[-1] is not Ellipsis:
            return args[part], False
        return (args[0] if args else None), False
    if origin is dict:
        return get_args(tp)[1], False
    if _is_union(tp):
        member = _tagged(tp, part)
        if member is not None:
            return member, True
        if isinstance(part, str):  # a plain union: pydantic names the member it tried
            return None, True
    return None, False


def walk(loc: Path) -> tuple[Path, list[Any]]:
    """The path in the file for pydantic's ``loc``, and for each of its parts the type
    that holds it (a model, a list, a dict …; None where the schema does not say)."""
    tp: Any = Config
    path: list[str | int] = []
    holders: list[Any] = []
    for part in loc:
        if part == "[key]":  # a bad dict key: the error is about the key itself
            continue
        nxt, label = step(tp, part)
        if not label:
            holders.append(_unwrap(tp))
            path.append(part)
        tp = nxt
    return tuple(path), holders


# -- messages ---------------------------------------------------------------------------

# The schema's patterns, in words: what a person should write instead.
_PATTERNS = {
    r"^https?://": "must start with http:// or https://",
    r"^[^\s]*:\d+$": "expected host:port, e.g. 127.0.0.1:9108",
    r"^[^:\s]+:\d+$": "expected host:port, e.g. smtp.example.com:465",
    r"^[A-Za-z0-9_.:-]+$": "may hold only letters, digits and _ . : -",
    r"^\$(\.[^.]+)+$": "expected a JSON path such as $.finished_at",
}
# Pydantic's type errors speak Python ("a valid dictionary"); YAML has other words.
_TYPES = {
    "dict_type": "a mapping (key: value)", "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)", "list_type": "a list",
    "tuple_type": "a list", "string_type": "a string", "int_type": "a whole number",
    "int_parsing": "a whole number", "int_from_float": "a whole number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "float_type": "a number", "float_parsing": "a number",
    "datetime_type": "a date and time, e.g. 2026-10-14T02:00:00+08:00",
    "datetime_parsing": "a date and time, e.g. 2026-10-14T02:00:00+08:00",
    "datetime_from_date_parsing": "a date and time, e.g. 2026-10-14T02:00:00+08:00",
}
_BOUNDS = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
           "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}


def suggestion(key: object, parent: Any) -> str:
    """`` (did you mean `interval`?)`` for a key close to one ``parent`` knows."""
    if not is_model(parent) or not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, key_names(parent), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else repr(value)


def message(err: Mapping[str, Any], path: Path, parent: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key" + suggestion(path[-1] if path else None, parent)
    if kind in ("missing", "union_tag_not_found"):
        return "required"
    if kind == "union_tag_invalid":
        expected = err.get("ctx", {}).get("expected_tags", "")
        return f"unknown kind {err['ctx']['tag']!r} (expected one of {expected})"
    if kind in _BOUNDS:
        word, key = _BOUNDS[kind]
        return f"must be {word} {err['ctx'][key]}"
    if kind in _TYPES:
        return f"expected {_TYPES[kind]}, got {_shown(err.get('input'))}"
    if kind == "string_pattern_mismatch" and err["ctx"]["pattern"] in _PATTERNS:
        return f"{_PATTERNS[err['ctx']['pattern']]}, got {err['input']!r}"
    if kind == "literal_error":
        return f"must be one of {err['ctx']['expected']}, got {err['input']!r}"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return str(msg[len(prefix):])
    return str(msg[0].lower() + msg[1:]) if msg else str(kind)


def schema_errors(exc: ValidationError) -> list[str]:
    """Each error as ``path: message``; the messages of one path (the members of a
    plain union) joined with "or"."""
    out: dict[Path, list[str]] = {}
    for err in exc.errors(include_url=False):
        path, holders = walk(tuple(err["loc"]))
        if err["type"] in ("union_tag_not_found", "union_tag_invalid"):
            path = (*path, "kind")
        text = message(err, path, holders[-1] if holders else None)
        msgs = out.setdefault(path, [])
        if text not in msgs:
            msgs.append(text)
    return [f"{format_path(p)}: {'; or '.join(m)}".lstrip(": ") for p, m in out.items()]
