"""``kind: journey``: ordered HTTP steps with variables and polls (probes.journey).

A journey is one target: ``url`` is its base (``{{base}}`` in templates), and a run
goes through ``steps`` in order, passing values along (``extract`` → ``{{name}}``),
polling a job until it is done (``poll``), and measuring a step from an earlier
one (``clock_from``: "100 pages < 10 min" counts from the request that starts the
generation).  Runs never overlap (``max_concurrent`` is 1: the scheduler never
starts a target while its previous run goes on).  ``objectives`` bound a step's
elapsed time; slo.steps counts the runs that met them.

Templates: ``{{base}}``, ``{{vars.NAME}}`` and ``{{NAME}}`` (a value an earlier
step extracted).  A var written ``{value: …, secret: true}`` or an extracted value
with ``secret: true`` never reaches a log, a result or an error message (``***``).

The cross-checks below run when the model is built and report every problem at
once, each at its own path (``targets[0].steps[2].clock_from: …``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from slaguard.config.types import (
    Bound,
    Duration,
    Name,
    Regex,
    Size,
    Strict,
    TargetBase,
    bound_inclusive,
)

# ``{{base}}``, ``{{vars.x}}``, ``{{x}}``; anything else between braces is an error.
TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^(?:vars\.)?[A-Za-z_][A-Za-z0-9_]*$")
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class SecretVar(Strict):
    value: str
    secret: bool = True


class GeneratedFile(Strict):
    """A multipart file part of ``generate`` bytes, made at run time (no file on disk)."""

    generate: Size
    filename: str = "slaguard-journey.bin"
    content_type: str = "application/octet-stream"


class JourneyRequest(Strict):
    method: Method = "GET"
    url: str  # a template; "{{base}}/api/files"
    headers: dict[str, str] = Field(default_factory=dict)
    # At most one body: JSON (strings in it are templates), multipart form fields
    # (a string, or a generated file), or a raw string body.
    json_: Any = Field(default=None, alias="json")
    multipart: dict[str, str | GeneratedFile] | None = None
    body: str | None = None

    @model_validator(mode="after")
    def _one_body(self) -> JourneyRequest:
        given = [k for k, v in (("json", self.json_), ("multipart", self.multipart),
                                ("body", self.body)) if v is not None]
        if len(given) > 1:
            raise ValueError(f"at most one of json, multipart, body (got {', '.join(given)})")
        return self


class Extract(Strict):
    """Where a value comes from: exactly one of a JSON path into the body, a regex over
    the body (its first group, else the match) or a response header."""

    jsonpath: str | None = None
    regex: Regex | None = None
    header: str | None = None
    secret: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> Extract:
        if sum(x is not None for x in (self.jsonpath, self.regex, self.header)) != 1:
            raise ValueError("exactly one of jsonpath, regex, header")
        return self


class SizeRange(Strict):
    gt: Size | None = None
    ge: Size | None = None
    lt: Size | None = None
    le: Size | None = None


class Check(Strict):
    """One assertion on a response: exactly one of ``status``, ``header`` (with
    ``matches``), ``body_contains``, ``jsonpath`` (with ``equals`` or ``in``),
    ``body_size``."""

    status: int | list[int] | None = None
    header: str | None = None
    matches: Regex | None = None
    body_contains: str | None = None
    jsonpath: str | None = None
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    body_size: SizeRange | None = None

    @model_validator(mode="after")
    def _one_check(self) -> Check:
        kinds = [self.status, self.header, self.body_contains, self.jsonpath, self.body_size]
        if sum(k is not None for k in kinds) != 1:
            raise ValueError("exactly one of status, header, body_contains, jsonpath, body_size")
        if self.header is not None and self.matches is None:
            raise ValueError("header needs matches (a regular expression)")
        if self.jsonpath is not None and (self.equals is None) == (self.in_ is None):
            raise ValueError("jsonpath needs exactly one of equals, in")
        return self


class Condition(Strict):
    """``{jsonpath: $.state, equals: done}`` or ``{jsonpath: $.state, in: [failed]}``."""

    jsonpath: str
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("exactly one of equals, in")
        return self


class Poll(Strict):
    """Ask ``request`` every ``every`` until ``until`` holds; ``fail_if`` ends the step
    as failed (the job failed), and no ``until`` within ``within`` (from the step's
    start) fails it as a timeout.  Each poll must answer 2xx."""

    request: JourneyRequest
    until: Condition
    fail_if: Condition | None = None
    every: Duration
    within: Duration


class Step(Strict):
    id: Name
    request: JourneyRequest | None = None
    poll: Poll | None = None
    # Applied to the step's (last) response, after ``expect``.
    extract: dict[Name, Extract] = Field(default_factory=dict)
    # Without a status check, the step expects a 2xx.
    expect: list[Check] = Field(default_factory=list)
    # The step's elapsed time counts from this earlier step's start.
    clock_from: str | None = None
    # Runs even after an earlier step failed or the journey's timeout ran out (clean-up).
    always_run: bool = False
    # A failed non-critical step is recorded but does not fail the run.
    critical: bool = True

    @model_validator(mode="after")
    def _request_or_poll(self) -> Step:
        if (self.request is None) == (self.poll is None):
            raise ValueError("exactly one of request, poll")
        return self

    @property
    def requests(self) -> tuple[JourneyRequest, ...]:
        return tuple(r for r in (self.request, self.poll and self.poll.request) if r)


class StepObjective(Strict):
    step: str
    elapsed: Bound  # "< 10m": exactly 10 min is a breach; "<= 10m": it is not


class JourneyTarget(TargetBase):
    kind: Literal["journey"]
    vars: dict[Name, str | SecretVar] = Field(default_factory=dict)
    steps: list[Step]
    # Runs of one journey never overlap: the scheduler's one-instance rule.
    max_concurrent: Literal[1] = 1
    objectives: list[StepObjective] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> JourneyTarget:
        errors = list(journey_errors(self))
        if errors:
            raise ValidationError.from_exception_data("JourneyTarget", [
                InitErrorDetails(type=PydanticCustomError("journey", msg), loc=loc, input=None)
                for loc, msg in errors
            ])
        return self

    def var_values(self) -> dict[str, str]:
        return {k: v if isinstance(v, str) else v.value for k, v in self.vars.items()}

    def secret_vars(self) -> set[str]:
        return {v.value for v in self.vars.values() if isinstance(v, SecretVar) and v.secret}


# -- cross-checks ------------------------------------------------------------------

Loc = tuple[str | int, ...]


def journey_errors(t: JourneyTarget) -> Iterator[tuple[Loc, str]]:
    if not t.steps:
        yield ("steps",), "a journey needs at least one step"
    ids: dict[str, int] = {}
    for i, s in enumerate(t.steps):
        if s.id in ids:
            yield ("steps", i, "id"), f"duplicate step id {s.id!r} (also steps[{ids[s.id]}])"
        ids.setdefault(s.id, i)
    yield from _clocks(t, ids)
    yield from _templates(t)
    yield from _polls(t)
    for i, o in enumerate(t.objectives):
        if o.step not in ids:
            yield ("objectives", i, "step"), f"unknown step {o.step!r} (steps: {', '.join(ids)})"


def _clocks(t: JourneyTarget, ids: dict[str, int]) -> Iterator[tuple[Loc, str]]:
    for i, s in enumerate(t.steps):
        if s.clock_from is None:
            continue
        if s.clock_from not in ids:
            yield ("steps", i, "clock_from"), f"unknown step {s.clock_from!r}"
        elif ids[s.clock_from] >= i:
            yield ("steps", i, "clock_from"), f"{s.clock_from!r} is not an earlier step"


def _polls(t: JourneyTarget) -> Iterator[tuple[Loc, str]]:
    total = timedelta(0)
    for i, s in enumerate(t.steps):
        if s.poll is None:
            continue
        total += s.poll.within
        if s.poll.every <= timedelta(0):
            yield ("steps", i, "poll", "every"), "must be above 0"
        elif s.poll.every > s.poll.within:
            yield ("steps", i, "poll", "every"), "must be at most poll.within"
    if total and t.timeout <= total:
        # A run must be able to wait out every poll and still make its other requests.
        yield ("timeout",), (f"must be longer than the steps' poll.within together "
                             f"({_seconds(total)})")


def _seconds(td: timedelta) -> str:
    return f"{td.total_seconds():g}s"


def template_names(text: str) -> Iterator[str]:
    for m in TEMPLATE.finditer(text):
        yield m.group(1)


def _strings(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every string a request renders, with its path (JSON bodies nest)."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, (*loc, str(k)))
    elif isinstance(value, list):
        for j, v in enumerate(value):
            yield from _strings(v, (*loc, j))


def request_strings(r: JourneyRequest, loc: Loc) -> Iterator[tuple[Loc, str]]:
    yield (*loc, "url"), r.url
    yield from _strings(r.headers, (*loc, "headers"))
    yield from _strings(r.json_, (*loc, "json"))
    if r.multipart:
        yield from _strings({k: v for k, v in r.multipart.items() if isinstance(v, str)},
                            (*loc, "multipart"))
    if r.body is not None:
        yield (*loc, "body"), r.body


def _templates(t: JourneyTarget) -> Iterator[tuple[Loc, str]]:
    """Every ``{{…}}`` names ``base``, a var, or a value an *earlier* step extracts."""
    extracted: set[str] = set()
    later = {name for s in t.steps for name in s.extract}
    for i, s in enumerate(t.steps):
        for loc, text in _step_strings(s, ("steps", i)):
            for name in template_names(text):
                problem = _template_problem(name, t, extracted, later)
                if problem:
                    yield loc, problem
        extracted |= set(s.extract)


def _step_strings(s: Step, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if s.request is not None:
        yield from request_strings(s.request, (*loc, "request"))
    if s.poll is not None:
        yield from request_strings(s.poll.request, (*loc, "poll", "request"))


def _template_problem(name: str, t: JourneyTarget, extracted: set[str],
                      later: set[str]) -> str | None:
    if name == "base" or name in extracted:
        return None
    if not _NAME.match(name):
        return (f"{{{{{name}}}}} is not a template "
                "(use {{base}}, {{vars.NAME}}, {{NAME}})")
    if name.startswith("vars."):
        return None if name[5:] in t.vars else f"{{{{{name}}}}}: no such var"
    if name in later:
        return f"{{{{{name}}}}} is used before a step extracts it"
    return f"{{{{{name}}}}}: no step extracts it"


def step_objective_specs(targets: Iterable[object]) -> list[tuple[str, str, int, bool]]:
    """(journey, step, bound ms, inclusive) of every journey's objectives, in the
    configuration's order: what slo.steps.step_objectives judges (slo/ takes plain
    values, never config models)."""
    return [(t.name, o.step, o.elapsed // timedelta(milliseconds=1), bound_inclusive(o.elapsed))
            for t in targets if isinstance(t, JourneyTarget) for o in t.objectives]
