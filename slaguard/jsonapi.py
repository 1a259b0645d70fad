"""What every JSON endpoint shares: replies, errors, bodies, bearer tokens.

An error body is ``{"error": message, "field": name or null}``: the message is a
sentence a person can act on, and where it is about one input (``month: not a
month``) ``field`` names that input for a program.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from aiohttp import web


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


async def body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (empty without a body); ValueError when it is not one."""
    if not request.can_read_body:
        return {}
    try:
        doc = await request.json()
    except ValueError:
        raise ValueError("body: expected JSON") from None
    if not isinstance(doc, dict):
        raise ValueError("body: expected a JSON object")
    return doc


def bearer(request: web.Request) -> str:
    """The bearer token of the request, or ''."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison: the time taken says nothing about how close it was."""
    return hmac.compare_digest(given.encode(), expected.encode())


def unauthorized() -> web.HTTPException:
    return error(web.HTTPUnauthorized, "a valid bearer token is required",
                 headers={"WWW-Authenticate": 'Bearer realm="slaguard"'})
