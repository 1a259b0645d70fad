"""The HTML plumbing the status page and the customer portal share: Jinja2
templates (a page's own folder first, then ``slaguard/templates`` for the base
layout), the security headers every page carries, ``/static/`` and the icon."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# connect-src: the status page's script fetches /api/v1/status, nothing else.
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

Pair = tuple[str, str]  # (中文, English)


def _local(ts: str | None) -> str:
    """An RFC 3339 instant (already in the contract's zone) as ``2026-01-03 14:05``."""
    return "" if ts is None else datetime.fromisoformat(ts).strftime("%Y-%m-%d %H:%M")


def _utc(ts: str | None) -> str:
    if ts is None:
        return ""
    return datetime.fromisoformat(ts).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@functools.cache
def templates(folders: tuple[Path, ...] = ()) -> Environment:
    env = Environment(loader=FileSystemLoader([*folders, TEMPLATES]), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["local"] = _local
    env.filters["utc"] = _utc
    return env


def html_response(template: str, status: int = 200, folders: Sequence[Path] = (),
                  **context: Any) -> web.Response:
    """``template`` from ``folders`` (then the shared ones), with the security headers."""
    body = templates(tuple(folders)).get_template(template).render(**context)
    resp = web.Response(text=body, status=status, content_type="text/html")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


async def favicon(request: web.Request) -> web.FileResponse:
    """Browsers ask for ``/favicon.ico`` whatever a page links."""
    return web.FileResponse(STATIC / "favicon.ico", headers={
        "Content-Type": "image/x-icon", "Cache-Control": "public, max-age=86400"})


def add_static(app: web.Application) -> None:
    """``/static/`` (CSS, script, icons) and ``/favicon.ico``, once per application."""
    if "slaguard-static" not in app.router.named_resources():
        app.router.add_static("/static/", STATIC, name="slaguard-static")
        app.router.add_get("/favicon.ico", favicon, name="slaguard-favicon")
