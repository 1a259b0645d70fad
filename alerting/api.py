"""The incident API and the Alertmanager inbound webhook (aiohttp, JSON).

    GET  /api/v1/incidents                    ?state=open|all &month=YYYY-MM (newest first)
    POST /api/v1/incidents                    create by hand (a phone-hotline ticket)
    GET  /api/v1/incidents/stats              ?month=YYYY-MM: MTTA/MTTR per priority
    GET  /api/v1/incidents/{id}               with its audit log
    POST /api/v1/incidents/{id}/acknowledge   {"by", "note"} (both optional)
    POST /api/v1/incidents/{id}/restore       {"by", "note"}
    POST /api/v1/incidents/{id}/resolve       {"by", "note"}
    POST /api/v1/incidents/{id}/priority      {"priority", "by", "reason"} (audited)
    GET  /api/v1/maintenance
    POST /api/v1/maintenance                  {"id", "services", "start", "end",
                                               "announced", "title", "by"}
    POST /api/v1/maintenance/{id}/announce    {"announced" (default now), "by"}
    POST /api/v1/alertmanager                 Alertmanager webhook v4

Who may call which route is ``slaguard.access``'s table (reads: staff read;
writes: staff write), checked before these handlers in the running app.  Writes
also check ``Authorization: Bearer <server.api_token>`` here: 401 without or with
a wrong token; 403 when no token is configured (the write API is off rather
than open).  ``{id}`` is ``INC-7``
or ``7``.  Instants are RFC 3339 in the configured zone.  Each incident carries
its ``url``, how to acknowledge it (``acknowledge``: the command and the API
call, until it is resolved) and its automatic clocks: ``restore_after_seconds``
(``incidents.restore_after``; rule incidents), ``auto_resolve_after_seconds``
(``incidents.auto_resolve_after``) and ``auto_resolve_at``.

Alertmanager: reply 2xx only after the durable write, 5xx when the store
fails (Alertmanager retries), 4xx for malformed input (it does not).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from alerting import rules
from alerting.incidents import (
    IncidentClosed,
    IncidentNotFound,
    Opening,
    SourceChange,
    lateness,
    response_stats,
)
from alerting.notification import Priority
from alerting.outbox import Rendering
from alerting.service import AlertingService, incident_ids
from alerting.store import IncidentRecord, LogEntry, MaintenanceRecord
from slaguard.jsonapi import (
    MAX_NAME,
    MAX_TEXT,
    bearer,
    body,
    error,
    json_body,
    labels,
    opt_text,
    path_id,
    query_text,
    reply,
    same_secret,
    text,
    unauthorized,
)
from slo.model import MaintenanceSpec
from slo.periods import Period, month_containing, parse_month, parse_rfc3339, rfc3339

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The exported Prometheus rules' alert names (alerting.promrules) → our rule names,
# so an outage paged by Prometheus and one seen by our own rules share an incident.
ALERTNAME_RULES: Mapping[str, str] = {
    "SlaguardServiceDown": rules.CONFIRMED_OUTAGE,
    "SlaguardErrorBudgetBurn": rules.BURN_RATE,
    "SlaguardProbeSilent": rules.PROBE_DOWN,
    "SlaguardCertificateExpiry": rules.TLS_EXPIRY,
}
SEVERITY_PRIORITY: Mapping[str, Priority] = {"page": Priority.P1, "ticket": Priority.P3}
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_INCIDENT_ID = r"{id:(INC-)?[0-9]+}"
MAX_LIST = 1000
MAX_SERVICES = 100  # services one maintenance window names


@dataclass
class AlertingApi:
    service: AlertingService
    api_token: str | None
    timezone: str
    services: Collection[str] | None = None  # known service names, to validate input


API_KEY: web.AppKey[AlertingApi] = web.AppKey("alerting_api", AlertingApi)


# -- Alertmanager payload -----------------------------------------------------------------


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint: FNV-1a 64 over ``name 0xFF value 0xFF`` by sorted name."""
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in part:
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _labels(value: Any, where: str, max_value: int = 1000) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object of strings")
    return labels(value, where, max_value)


def am_priority(labels: Mapping[str, str]) -> Priority:
    """``priority`` label, else ``severity`` (page → P1, ticket → P3, or P1..P4), else P3."""
    for value in (labels.get("priority", ""), labels.get("severity", "")):
        if value in Priority.__members__:
            return Priority(value)
    return SEVERITY_PRIORITY.get(labels.get("severity", ""), Priority.P3)


def am_rule(labels: Mapping[str, str]) -> str:
    name = labels.get("alertname", "alertmanager")
    return labels.get("rule") or ALERTNAME_RULES.get(name, name)


def _am_change(alert: Any, i: int) -> SourceChange:
    where = f"alerts[{i}]"
    if not isinstance(alert, dict):
        raise ValueError(f"{where}: expected an object")
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise ValueError(f"{where}.status: expected firing or resolved, got {status!r}")
    labels = _labels(alert.get("labels"), f"{where}.labels")
    # A description annotation may be a paragraph: values up to MAX_TEXT.
    annotations = _labels({} if alert.get("annotations") is None else alert["annotations"],
                          f"{where}.annotations", MAX_TEXT)
    fp = alert.get("fingerprint")
    fp = fp if isinstance(fp, str) and _HEX16.match(fp) else fingerprint(labels)
    service = labels.get("service") or labels.get("job") or "unknown"
    rule = am_rule(labels)
    opening = Opening(
        rules.incident_key(service, rule), service, rules.incident_rule(rule), am_priority(labels),
        annotations.get("summary") or f"{labels.get('alertname', 'alert')} {service}",
        annotations.get("description", ""), "alertmanager",
        {**labels, "fingerprint": fp})
    return SourceChange(f"am:{fp}", status == "firing", opening)


def parse_alertmanager(doc: Any) -> list[SourceChange]:
    """Webhook v4 → source changes; unknown keys are ignored (newer Alertmanagers add some)."""
    if not isinstance(doc, dict):
        raise ValueError("body: expected a JSON object")
    if doc.get("version") != "4":
        raise ValueError(f"version: expected \"4\", got {doc.get('version')!r}")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("alerts: expected a list")
    return [_am_change(a, i) for i, a in enumerate(alerts)]


# -- JSON ------------------------------------------------------------------------------------


def _ts(ms: int | None, tz: str) -> str | None:
    if ms is None:
        return None
    try:
        return rfc3339(ms, tz)
    except (OverflowError, ValueError, OSError):
        # A stored instant no date can show (a bad record: evaluation leaves it out and
        # raises bad_record); shown as stored, so staff can find and correct it.
        return str(ms)


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def incident_json(inc: IncidentRecord, tz: str, now_ms: int,
                  log: list[LogEntry] | None = None,
                  rendering: Rendering | None = None) -> dict[str, Any]:
    late = lateness(inc, now_ms)
    doc: dict[str, Any] = {
        "id": inc.public_id, "state": inc.state, "service": inc.service, "rule": inc.rule,
        "priority": inc.priority.value, "title": inc.title, "summary": inc.summary,
        "source": inc.source, "labels": dict(inc.labels),
        "opened": _ts(inc.opened_ms, tz),
        "responded": _ts(inc.responded_ms, tz), "responded_by": inc.responded_by,
        "restored": _ts(inc.restored_ms, tz), "restored_by": inc.restored_by,
        "resolved": _ts(inc.resolved_ms, tz), "resolved_by": inc.resolved_by,
        "due": {"respond": _ts(inc.respond_due_ms, tz), "restore": _ts(inc.restore_due_ms, tz),
                "resolve": _ts(inc.resolve_due_ms, tz)},
        "late_seconds": {"respond": late.respond_s, "restore": late.restore_s,
                         "resolve": late.resolve_s},
        "escalation": {"level": inc.escalation_level,
                       "next": _ts(inc.next_escalation_ms, tz),
                       "notify": list(inc.escalation.notify),
                       "chain": list(inc.escalation.chain),
                       "steps": [{"after_ms": after, "notify": list(channels)}
                                 for after, channels in inc.escalation.plan]},
        "reopen_count": inc.reopen_count,
        "auto_resolve_at": _ts(inc.auto_resolve_ms, tz),
    }
    if rendering is not None:
        command, api = rendering.ack_command(inc), rendering.ack_api(inc)
        doc.update(
            url=rendering.url(inc),
            acknowledge=None if command is None else {"command": command, "api": api},
            restore_after_seconds=_seconds(rendering.restore_after_ms_of(inc)),
            auto_resolve_after_seconds=_seconds(rendering.auto_resolve_after_ms_of(inc)))
    if log is not None:
        doc["log"] = [{"at": _ts(e.at_ms, tz), "kind": e.kind, "actor": e.actor,
                       "detail": dict(e.detail)} for e in log]
    return doc


def maintenance_json(m: MaintenanceRecord, tz: str) -> dict[str, Any]:
    s = m.spec
    return {"id": s.id, "services": list(s.services), "title": s.title,
            "start": _ts(s.start_ms, tz), "end": _ts(s.end_ms, tz),
            "announced": _ts(s.announced_ms, tz), "created": _ts(m.created_ms, tz),
            "created_by": m.created_by}


# -- request helpers -----------------------------------------------------------------------


def _api(request: web.Request) -> AlertingApi:
    return request.app[API_KEY]


def require_token(request: web.Request) -> None:
    token = _api(request).api_token
    if not token:
        raise error(web.HTTPForbidden, "write API disabled: set server.api_token in the "
                                        "configuration to enable it")
    if not same_secret(bearer(request), token):
        raise unauthorized()


def writes(handler: Handler) -> Handler:
    """Bearer token first, then the handler; domain errors become 4xx."""
    async def guarded(request: web.Request) -> web.StreamResponse:
        require_token(request)
        try:
            return await handler(request)
        except IncidentNotFound as e:
            raise error(web.HTTPNotFound, str(e)) from None
        except IncidentClosed as e:
            raise error(web.HTTPConflict, str(e)) from None
        except ValueError as e:
            raise error(web.HTTPBadRequest, str(e)) from None
    return guarded


def _text(doc: Mapping[str, Any], key: str, default: str | None = None) -> str:
    return text(doc, key, MAX_NAME if key == "by" else 1000, default)


def _priority(value: Any) -> Priority:
    if not isinstance(value, str) or value not in Priority.__members__:
        shown = value if isinstance(value, str | int | float | None) else type(value).__name__
        raise ValueError(f"priority: expected one of P1, P2, P3, P4, got {str(shown)[:20]!r}")
    return Priority(value)


def _incident_id(request: web.Request) -> int:
    """The path's incident id; an id with more digits than any stored one is no incident."""
    number = path_id(request, "INC-")
    if number is None:
        raise IncidentNotFound(f"no incident {request.match_info['id'][:40]}")
    return number


def _month(request: web.Request) -> Period | None:
    try:
        value = query_text(request, "month")
        return None if value is None else parse_month(value, _api(request).timezone)
    except ValueError as e:
        raise error(web.HTTPBadRequest, f"month: {e}".replace("month: month: ", "month: ")
                    ) from None


def _service(api: AlertingApi, value: str) -> str:
    if api.services is not None and value not in api.services:
        raise ValueError(f"service: no service named {value!r}")
    return value


# -- incident handlers -----------------------------------------------------------------------


async def list_incidents(request: web.Request) -> web.Response:
    api = _api(request)
    now = api.service.clock.now_ms()
    period = _month(request)
    state = request.query.get("state", "all")
    if state not in ("open", "all"):
        raise error(web.HTTPBadRequest, "state: expected open or all")
    found = await asyncio.to_thread(
        api.service.incidents.find, None if period is None else period.start_ms,
        None if period is None else period.end_ms, state == "open", MAX_LIST, True)
    return reply({"incidents": [incident_json(i, api.timezone, now, None,
                                              api.service.rendering) for i in found]})


async def get_incident(request: web.Request) -> web.Response:
    api = _api(request)
    try:
        inc, log = await asyncio.to_thread(api.service.incidents.get, _incident_id(request))
    except IncidentNotFound as e:
        raise error(web.HTTPNotFound, str(e)) from None
    return reply({"incident": incident_json(inc, api.timezone, api.service.clock.now_ms(),
                                             log, api.service.rendering)})


async def incident_stats(request: web.Request) -> web.Response:
    api = _api(request)
    now = api.service.clock.now_ms()
    period = _month(request) or month_containing(now, api.timezone)
    found = await asyncio.to_thread(api.service.store.list_incidents, period)
    stats = response_stats(found, api.timezone, now)
    return reply({"month": period.label, "timezone": api.timezone, "priorities": [
        {"priority": s.priority.value, "incidents": s.incidents, "acknowledged": s.acknowledged,
         "restored": s.restored, "late_responses": s.late_responses,
         "mtta_seconds": None if s.mtta_ms is None else s.mtta_ms // 1000,
         "mttr_seconds": None if s.mttr_ms is None else s.mttr_ms // 1000}
        for s in stats]})


async def _changed(request: web.Request, inc: IncidentRecord, status: int = 200) -> web.Response:
    api = _api(request)
    api.service.wake()
    return reply({"incident": incident_json(inc, api.timezone, api.service.clock.now_ms(),
                                             None, api.service.rendering)}, status)


@writes
async def create_incident(request: web.Request) -> web.Response:
    api, doc = _api(request), await body(request)
    found = labels(doc.get("labels"))
    inc = await asyncio.to_thread(
        api.service.incidents.create, _service(api, _text(doc, "service")),
        _text(doc, "title"), _priority(doc.get("priority")), _text(doc, "by", "api"),
        opt_text(doc, "summary", MAX_TEXT), found)
    return await _changed(request, inc, 201)


def _note(doc: Mapping[str, Any]) -> str:
    return opt_text(doc, "note", MAX_TEXT)


async def _person_changes(request: web.Request, change: Callable[..., IncidentRecord]
                          ) -> web.Response:
    doc = await body(request)
    inc = await asyncio.to_thread(change, _incident_id(request), _text(doc, "by", "api"),
                                  _note(doc))
    return await _changed(request, inc)


@writes
async def acknowledge(request: web.Request) -> web.Response:
    return await _person_changes(request, _api(request).service.incidents.acknowledge)


@writes
async def restore(request: web.Request) -> web.Response:
    return await _person_changes(request, _api(request).service.incidents.restore)


@writes
async def resolve(request: web.Request) -> web.Response:
    return await _person_changes(request, _api(request).service.incidents.resolve)


@writes
async def change_priority(request: web.Request) -> web.Response:
    doc = await body(request)
    inc = await asyncio.to_thread(
        _api(request).service.incidents.change_priority, _incident_id(request),
        _priority(doc.get("priority")), _text(doc, "by"), _text(doc, "reason"))
    return await _changed(request, inc)


# -- maintenance handlers --------------------------------------------------------------------


def _windows(api: AlertingApi) -> list[MaintenanceRecord]:
    with api.service.store.reading() as tx:
        return tx.maintenance()


async def list_maintenance(request: web.Request) -> web.Response:
    api = _api(request)
    found = await asyncio.to_thread(_windows, api)
    return reply({"maintenance": [maintenance_json(m, api.timezone) for m in found]})


def _window(api: AlertingApi, doc: Mapping[str, Any]) -> MaintenanceSpec:
    window_id = opt_text(doc, "id", MAX_NAME) or f"MW-{uuid.uuid4().hex[:8]}"
    if not _NAME.match(window_id):
        raise ValueError("id: letters, digits and _.:- only")
    services = doc.get("services")
    if not isinstance(services, list) or not services or len(services) > MAX_SERVICES or not all(
            isinstance(s, str) and 0 < len(s) <= MAX_NAME for s in services):
        raise ValueError("services: expected a non-empty list of service names")
    start, end = parse_rfc3339(doc.get("start"), "start"), parse_rfc3339(doc.get("end"), "end")
    if end <= start:
        raise ValueError("end: must be after start")
    announced = doc.get("announced")
    return MaintenanceSpec(window_id, tuple(_service(api, s) for s in services), start, end,
                           None if announced is None else parse_rfc3339(announced, "announced"),
                           opt_text(doc, "title"))


def _insert_window(api: AlertingApi, spec: MaintenanceSpec, by: str) -> MaintenanceRecord:
    now = api.service.clock.now_ms()
    with api.service.store.transaction() as tx:
        try:
            tx.insert_maintenance(spec, now, by)
        except sqlite3.IntegrityError:
            raise error(web.HTTPConflict, f"maintenance {spec.id!r} exists") from None
    return MaintenanceRecord(spec, now, by)


@writes
async def create_maintenance(request: web.Request) -> web.Response:
    api, doc = _api(request), await body(request)
    record = await asyncio.to_thread(_insert_window, api, _window(api, doc),
                                     _text(doc, "by", "api"))
    return reply({"maintenance": maintenance_json(record, api.timezone)}, 201)


def _announce(api: AlertingApi, window_id: str, announced_ms: int) -> MaintenanceRecord:
    with api.service.store.transaction() as tx:
        if not tx.announce_maintenance(window_id, announced_ms):
            raise error(web.HTTPNotFound, f"no maintenance {window_id!r}")
        return next(m for m in tx.maintenance() if m.spec.id == window_id)


@writes
async def announce_maintenance(request: web.Request) -> web.Response:
    api = _api(request)
    doc = await body(request)
    at = doc.get("announced")
    announced = api.service.clock.now_ms() if at is None else parse_rfc3339(at, "announced")
    window_id = request.match_info["id"]
    if len(window_id) > MAX_NAME:
        raise error(web.HTTPNotFound, f"no maintenance {window_id[:40]!r}…")
    record = await asyncio.to_thread(_announce, api, window_id, announced)
    return reply({"maintenance": maintenance_json(record, api.timezone)})


# -- Alertmanager ---------------------------------------------------------------------------


@writes
async def alertmanager_webhook(request: web.Request) -> web.Response:
    api = _api(request)
    changes = parse_alertmanager(await json_body(request))
    try:
        done = await asyncio.to_thread(api.service.apply, changes)
    except sqlite3.Error as e:
        raise error(web.HTTPServiceUnavailable, f"store: {e}") from None
    return reply({"accepted": len(changes), "incidents": incident_ids(done)})


def register_routes(app: web.Application, api: AlertingApi) -> None:
    """Add the incident, maintenance and Alertmanager routes to ``app``."""
    app[API_KEY] = api
    base = "/api/v1/incidents"
    app.router.add_get(base, list_incidents)
    app.router.add_post(base, create_incident)
    app.router.add_get(f"{base}/stats", incident_stats)
    app.router.add_get(f"{base}/{_INCIDENT_ID}", get_incident)
    app.router.add_post(f"{base}/{_INCIDENT_ID}/acknowledge", acknowledge)
    app.router.add_post(f"{base}/{_INCIDENT_ID}/restore", restore)
    app.router.add_post(f"{base}/{_INCIDENT_ID}/resolve", resolve)
    app.router.add_post(f"{base}/{_INCIDENT_ID}/priority", change_priority)
    app.router.add_get("/api/v1/maintenance", list_maintenance)
    app.router.add_post("/api/v1/maintenance", create_maintenance)
    app.router.add_post("/api/v1/maintenance/{id}/announce", announce_maintenance)
    app.router.add_post("/api/v1/alertmanager", alertmanager_webhook)
