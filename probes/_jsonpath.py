"""A small JSONPath subset: ``$``, ``.name``, ``['name']`` / ``["name"]``, ``[N]``.

Enough for ``$.status``, ``$.a.b[0]``, ``$.items[-1].id`` and keys holding
dots (``$['build.id']``).  No wildcards, filters or slices: an assertion that
needs them is better written as several simple paths.
"""

from __future__ import annotations

import re
from typing import Any

_STEP = re.compile(r"""\.([^.\[\]'"]+)|\[(-?\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")


class PathNotFound(LookupError):
    """The document has no value at the path."""


def parse(path: str) -> tuple[str | int, ...]:
    if not path.startswith("$"):
        raise ValueError(f"JSONPath must start with '$': {path!r}")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise ValueError(f"unsupported JSONPath {path!r} at offset {pos}")
        name, index, single, double = m.groups()
        steps.append(int(index) if index is not None else next(
            s for s in (name, single, double) if s is not None
        ))
        pos = m.end()
    return tuple(steps)


def lookup(doc: Any, path: str) -> Any:
    node = doc
    for i, step in enumerate(parse(path)):
        if isinstance(step, int):
            ok = isinstance(node, list) and -len(node) <= step < len(node)
        else:
            ok = isinstance(node, dict) and step in node
        if not ok:
            raise PathNotFound(f"{path}: nothing at step {i + 1} ({step!r})")
        node = node[step]
    return node


def same_value(actual: Any, expected: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(actual, bool | str) or isinstance(expected, bool | str):
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)
