"""The support desk's compliance over HTTP (aiohttp, JSON).

    GET /api/v1/support   ?month=YYYY-MM (default: this month, to date) &customer=ID

The answer is :meth:`slo.support.SupportReport.to_dict`: the period, the rules in
words, per channel and commitment, per commitment, overall, and per customer;
with ``customer`` only that customer's interactions are counted.  Errors are JSON
naming the field (``{"error": "month: not a month …", "field": "month"}``): a
malformed month or customer is a 400, a customer not configured a 404.

Who may ask is the route table of ``slaguard.access`` (checked before the handler).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from compensation.support import SupportDesk, UnknownSupportCustomer
from slaguard import access
from slaguard.jsonapi import MAX_NAME, error, query_text, reply
from slo.periods import MonthError, month_containing, parse_month

PATH = "/api/v1/support"


@dataclass
class SupportApi:
    desk: SupportDesk
    now_ms: Callable[[], int]


SUPPORT_API: web.AppKey[SupportApi] = web.AppKey("support_api", SupportApi)


async def support_report(request: web.Request) -> web.Response:
    api = request.app[SUPPORT_API]
    tz = api.desk.rules.timezone
    now = api.now_ms()
    try:
        month = query_text(request, "month", 16)
        customer = query_text(request, "customer", MAX_NAME)
        period = month_containing(now, tz) if month is None else parse_month(month, tz)
    except MonthError as e:
        raise error(web.HTTPBadRequest, f"month: {e}") from None
    except ValueError as e:
        raise error(web.HTTPBadRequest, str(e)) from None
    who = access.principal(request)
    if who is not None and who.kind == "customer":  # its own interactions, never another's
        if customer not in (None, who.customer):
            raise error(web.HTTPForbidden, "customer: a customer sees its own support only")
        customer = who.customer
    try:
        report = await asyncio.to_thread(api.desk.report, period, now, customer)
    except UnknownSupportCustomer as e:
        raise error(web.HTTPNotFound, str(e)) from None
    return reply(report.to_dict())


def add_routes(app: web.Application, api: SupportApi) -> None:
    """Add ``GET /api/v1/support`` to ``app``."""
    app[SUPPORT_API] = api
    app.router.add_get(PATH, support_report)
