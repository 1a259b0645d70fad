"""What every JSON endpoint shares: replies, errors, bodies, bearer tokens.

An error body is ``{"error": message, "field": name or null}``: the message is a
sentence a person can act on, and where it is about one input (``month: not a
month``) ``field`` names that input for a program.

Every input a handler reads goes through one strict parser of its kind here, so no
handler meets a value it did not expect (the cause of a 5xx): query integers, instants
and months (ASCII digits only, bounded length and range: ``"²"`` or 5 000 nines are a
400, not an ``int()`` or SQLite overflow), numeric path ids (bounded, else "no such"),
JSON bodies (bounded depth, no ``NaN``), text fields (typed, bounded length) and bearer
tokens (printable ASCII, bounded; anything else is simply no token).  Each raises
``ValueError("field: why")``, which the handlers' guards answer as a 400 naming it.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from slaguard.domain import check_instant, check_text
from slo.periods import parse_rfc3339


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def reply(doc: Any, status: int = 200) -> web.Response:
    return web.json_response(doc, status=status, dumps=dumps)


# "month: not a month" names its input; "write API disabled: set …" does not.
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\[\]-]*): ")


def error_doc(message: str, status: int = 400, field: str | None = None) -> dict[str, Any]:
    """The JSON body of an error; ``field`` defaults to the input the message starts
    with, for a client error (a server's "store: …" is no input of the request)."""
    if field is None and status < 500 and (m := _FIELD.match(message)):
        field = m.group(1)
    return {"error": message, "field": field}


def error(cls: type[web.HTTPException], message: str, field: str | None = None,
          **kw: Any) -> web.HTTPException:
    """An HTTP error whose JSON body says why."""
    return cls(text=dumps(error_doc(message, cls.status_code, field)),
               content_type="application/json", **kw)


# -- bodies ---------------------------------------------------------------------------------

MAX_DEPTH = 32  # our documents nest 3 deep; an alert's labels 4


def _depth_ok(doc: Any) -> bool:
    """Whether ``doc`` nests at most MAX_DEPTH deep (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                return False
            children = node.values() if isinstance(node, dict) else node
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"body: {name} is not JSON")


def parse_json(raw: bytes, where: str = "body") -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, at most MAX_DEPTH deep; ValueError naming
    ``where`` otherwise (its size is bounded before: aiohttp's client_max_size)."""
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:  # 100 000 nested "[": the C parser gives up, so do we
        raise ValueError(f"{where}: nested deeper than {MAX_DEPTH}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{where}: not UTF-8") from None
    except ValueError as e:  # JSONDecodeError, a 5 000-digit number
        raise ValueError(f"{where}: expected JSON ({str(e)[:80]})") from None
    if not _depth_ok(doc):
        raise ValueError(f"{where}: nested deeper than {MAX_DEPTH}")
    return doc


async def json_body(request: web.Request) -> Any:
    """The request's JSON document of any type (None without a body)."""
    if not request.can_read_body:
        return None
    return parse_json(await request.read())


async def body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (empty without a body); ValueError when it is not one."""
    doc = await json_body(request)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValueError("body: expected a JSON object")
    return doc


async def form(request: web.Request) -> dict[str, str]:
    """A form body's text fields (urlencoded or multipart); ValueError "body: …" when it is
    not a form aiohttp can read (multipart without or with a wrong boundary, …)."""
    if not request.can_read_body:
        return {}
    try:
        posted = await request.post()
    except web.HTTPException:
        raise  # 413: too large, as aiohttp says
    except (ValueError, AssertionError, LookupError) as e:  # LookupError: a bad charset
        raise ValueError(f"body: not a form aiohttp can read ({str(e)[:80]})") from None
    return {k: v for k, v in posted.items() if isinstance(v, str)}


# -- fields of a body -------------------------------------------------------------------------

MAX_NAME = 128  # a person, a service, an id
MAX_LINE = 1000  # a title, a note, a reason
MAX_TEXT = 10_000  # a summary, a description
MAX_LABELS = 128


def text(doc: Mapping[str, Any], key: str, max_len: int = MAX_LINE,
         default: str | None = None) -> str:
    """A required string (``default`` when absent): typed, non-empty, bounded."""
    value = doc.get(key, default)
    return check_text(value, key, max_len, required=True)


def opt_text(doc: Mapping[str, Any], key: str, max_len: int = MAX_LINE) -> str:
    """An optional string ('' when absent or null): typed, bounded."""
    return check_text(doc.get(key), key, max_len)


def labels(value: Any, key: str = "labels", max_value: int = MAX_LINE) -> dict[str, str]:
    """An object of strings ({} when absent or null); ``0``, ``false`` or ``[]`` is an error,
    not "no labels"."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{key}: expected an object of strings, got {type(value).__name__}")
    if len(value) > MAX_LABELS:
        raise ValueError(f"{key}: at most {MAX_LABELS} labels")
    for name, v in value.items():
        if not isinstance(v, str):
            raise ValueError(f"{key}.{name[:MAX_NAME]}: expected a string")
        if len(name) > MAX_NAME or len(v) > max_value:
            raise ValueError(f"{key}: names at most {MAX_NAME} and values at most "
                             f"{max_value} characters")
    return dict(value)


# -- query parameters and path ids -----------------------------------------------------------

_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII, and below 2**63: what SQLite stores
MAX_QUERY = 256


def query_text(request: web.Request, name: str, max_len: int = MAX_QUERY) -> str | None:
    """A query parameter (None when absent or empty), bounded."""
    value = request.query.get(name)
    if not value:
        return None
    if len(value) > max_len:
        raise ValueError(f"{name}: at most {max_len} characters")
    return value


def query_int(request: web.Request, name: str, default: int | None = None,
              lo: int = 1, hi: int = 10**18) -> int | None:
    """A decimal integer in ``[lo, hi]`` (ASCII digits: "²" or a 5 000-digit number is a
    400, not a crash)."""
    value = request.query.get(name)
    if value is None or value == "":
        return default
    if not _DIGITS.fullmatch(value) or not lo <= int(value) <= hi:
        wanted = "a positive integer" if (lo, hi) == (1, 10**18) else \
            f"an integer from {lo} to {hi}"
        raise ValueError(f"{name}: expected {wanted}, got {value[:40]!r}")
    return int(value)


def query_instant(request: web.Request, name: str) -> int | None:
    """Epoch milliseconds or RFC 3339 with offset, between 2000 and 2100 (None when absent)."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if _DIGITS.fullmatch(value):
        return check_instant(int(value), name)
    try:
        return parse_rfc3339(value, name)
    except ValueError:
        raise ValueError(f"{name}: expected RFC 3339 with offset or epoch milliseconds "
                         f"between 2000 and 2100, got {value[:40]!r}") from None


def path_id(request: web.Request, prefix: str, key: str = "id") -> int | None:
    """A numeric id from the path (``INC-7`` or ``7``); None when it cannot be one we issued
    (more digits than any stored id), so the caller answers "no such"."""
    raw = request.match_info[key]
    digits = raw[len(prefix):] if raw.upper().startswith(prefix.upper()) else raw
    return int(digits) if _DIGITS.fullmatch(digits) else None


# -- tokens -----------------------------------------------------------------------------------

MAX_TOKEN = 1024
_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII, what any token we issue is


def bearer(request: web.Request) -> str:
    """The bearer token of the request, or '' (also for one that cannot be a token: not
    printable ASCII, such as a non-UTF-8 header, or longer than MAX_TOKEN)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or len(given) > MAX_TOKEN or not _TOKEN.fullmatch(given):
        return ""
    return given


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison: the time taken says nothing about how close it was.
    Any string compares (a lone surrogate from a header or a form included)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


def unauthorized() -> web.HTTPException:
    return error(web.HTTPUnauthorized, "a valid bearer token is required",
                 headers={"WWW-Authenticate": 'Bearer realm="slaguard"'})
