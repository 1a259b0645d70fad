"""A journey step's assertions, extractions and poll conditions (probes.journey).

Each takes the step's ``Answer`` (status, headers, body) and raises a
``ProbeFailure`` naming what was wrong; values are quoted only when they are not
secret (the caller masks every message anyway).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDictProxy

from probes import _jsonpath
from probes.errors import AssertionFailed, StatusMismatch
from slaguard.config.journey import Check, Condition, Extract, SizeRange


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionFailed(f"body is not JSON: {e}") from None


def path_value(answer: Answer, path: str) -> Any:
    try:
        return _jsonpath.lookup(answer.json(), path)
    except (_jsonpath.PathNotFound, ValueError) as e:
        raise AssertionFailed(str(e)) from None


def check_all(checks: list[Check], answer: Answer) -> None:
    """A step without a status check expects a 2xx."""
    if not any(c.status is not None for c in checks) and not 200 <= answer.status < 300:
        raise StatusMismatch(f"status {answer.status}, expected 2xx")
    for c in checks:
        check_one(c, answer)


def check_one(c: Check, a: Answer) -> None:
    if c.status is not None:
        want = c.status if isinstance(c.status, list) else [c.status]
        if a.status not in want:
            words = " or ".join(map(str, want))
            raise StatusMismatch(f"status {a.status}, expected {words}")
    elif c.header is not None:
        values = a.headers.getall(c.header, [])
        if not any(re.search(c.matches or "", v) for v in values):
            raise AssertionFailed(f"header {c.header}: {values[0] if values else 'missing'!r}"
                                  f" does not match /{c.matches}/")
    elif c.body_contains is not None:
        if c.body_contains not in a.text():
            raise AssertionFailed(f"body does not contain {c.body_contains!r}")
    elif c.jsonpath is not None:
        got = path_value(a, c.jsonpath)
        if not _matches(got, c.equals, c.in_):
            expected = repr(c.equals) if c.in_ is None else f"one of {c.in_!r}"
            raise AssertionFailed(f"{c.jsonpath} is {got!r}, expected {expected}")
    elif c.body_size is not None:
        _check_size(c.body_size, len(a.body))


def _check_size(r: SizeRange, size: int) -> None:
    for bound, ok, word in ((r.gt, lambda b: size > b, "more than"),
                            (r.ge, lambda b: size >= b, "at least"),
                            (r.lt, lambda b: size < b, "less than"),
                            (r.le, lambda b: size <= b, "at most")):
        if bound is not None and not ok(bound):
            raise AssertionFailed(f"body is {size} bytes, expected {word} {bound}")


def _matches(got: Any, equals: Any, in_: list[Any] | None) -> bool:
    if in_ is not None:
        return any(_jsonpath.same_value(got, w) for w in in_)
    return _jsonpath.same_value(got, equals)


def holds(cond: Condition, a: Answer) -> tuple[bool, Any]:
    """Whether a poll condition holds, and the value it saw (absent: it does not)."""
    try:
        got = _jsonpath.lookup(a.json(), cond.jsonpath)
    except (_jsonpath.PathNotFound, ValueError):
        return False, None
    return _matches(got, cond.equals, cond.in_), got


def extract(e: Extract, a: Answer) -> str:
    if e.jsonpath is not None:
        got = path_value(a, e.jsonpath)
        return got if isinstance(got, str) else json.dumps(got)
    if e.header is not None:
        value = a.headers.get(e.header)
        if value is None:
            raise AssertionFailed(f"header {e.header} missing (nothing to extract)")
        return value
    m = re.search(e.regex or "", a.text())
    if m is None:
        raise AssertionFailed(f"body does not match /{e.regex}/ (nothing to extract)")
    return m.group(1) if m.groups() else m.group(0)
