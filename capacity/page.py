"""An HTML page per capacity run: the verdict, why, the thresholds, each endpoint's
figures and an inline SVG plot of users, p95 and errors over time (no script, no
external resource: the page is evidence and must render as archived)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from slaguard.web import html_response, templates

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "capacity_run.html.j2"
WIDTH, HEIGHT, LEFT, PAD = 720, 120, 64, 8


@dataclass(frozen=True)
class Series:
    """One plotted line: its title, unit, the points and the axis' top value."""
    title: str
    unit: str
    colour: str
    points: str  # SVG polyline "x,y x,y …"
    top: int
    last: int | None


def _series(history: list[dict[str, Any]], key: str, title: str, unit: str,
            colour: str) -> Series:
    values = [(h["t_s"], h[key]) for h in history if h[key] is not None]
    t_max = max((h["t_s"] for h in history), default=0) or 1
    top = max((v for _, v in values), default=0) or 1
    span_x, span_y = WIDTH - LEFT - PAD, HEIGHT - 2 * PAD
    pts = " ".join(f"{LEFT + t * span_x // t_max},{PAD + span_y * (top - v) // top}"
                   for t, v in values)
    return Series(title, unit, colour, pts, top, values[-1][1] if values else None)


def plot(history: list[dict[str, Any]]) -> list[Series]:
    """Users, p95 (Locust's last 10 s) and failed requests per 10 s step."""
    return [_series(history, "users", "users", "", "#0072b2"),
            _series(history, "p95_ms", "p95", "ms", "#e69f00"),
            _series(history, "failures", "errors per 10 s", "", "#d55e00")]


# What a run in progress has not written yet (the page shows it as it goes).
_PENDING: dict[str, Any] = {"end": None, "peak_users": None, "total": None, "endpoints": [],
                            "thresholds": [], "history": [], "aborted_by": None,
                            "invalid_reason": None}


def _context(doc: dict[str, Any]) -> dict[str, Any]:
    doc = _PENDING | doc
    doc["generator"] = {"peak_cpu_percent": {}} | doc.get("generator", {})
    return {"run": doc, "plot": plot(doc.get("history") or []), "width": WIDTH,
            "height": HEIGHT, "left": LEFT, "pad": PAD,
            "duration": max((h["t_s"] for h in doc.get("history") or []), default=0)}


def render_page(doc: dict[str, Any]) -> str:
    """The page's HTML (``slaguard capacity show RUN --format html``)."""
    return templates((TEMPLATES,)).get_template(TEMPLATE).render(**_context(doc))


def page_response(doc: dict[str, Any]) -> web.Response:
    """The page with the security headers every slaguard page carries."""
    return html_response(TEMPLATE, folders=(TEMPLATES,), **_context(doc))
