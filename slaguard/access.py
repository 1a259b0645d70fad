"""Who may call which route: the principals, the roles, one table, one middleware.

A bearer token names exactly one **principal** (``check-config`` refuses a token used
twice): staff who write (``server.api_token``), staff who read (``server.read_token``),
the Prometheus scraper (``server.metrics_token``) or a customer
(``customers[].token``).  Every route of the web application has one **role** in
:data:`ROUTES`; a route missing from it answers 403 (fail closed) and a test checks the
table against the application's routes, so a new route cannot ship without a role:

* ``public`` — anyone: the status page and its JSON, ``/healthz``, static files, the
  portal's sign-in.  Nothing on a public route names staff or a customer's money.
* ``customer`` — a customer for itself (the handler narrows to its own claims,
  statements and services), or staff: staff read for GET, staff write for POST.
* ``portal`` — a customer signed in to the portal; the portal checks its session
  cookie itself (a browser cannot attach a bearer header to a link).
* ``staff read`` — incidents and their audit log, results, maintenance: staff read or
  staff write.
* ``staff write`` — every change: staff write only.
* ``metrics`` — ``/metrics`` (compensation exposure of every customer among it): the
  scrape token or staff.  ``server.internal_listen`` serves it without a token on a
  second listener instead (:func:`slaguard.server.make_internal_app`).

Answers: no token or an unknown one → 401 with ``WWW-Authenticate``; a known principal
without the role → 403 naming the role; a role no configured token can have → 403
naming the setting that turns it on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from slaguard.config.schema import Config
from slaguard.jsonapi import bearer, error, same_secret, unauthorized


class Role(StrEnum):
    PUBLIC = "public"
    CUSTOMER = "customer"
    PORTAL = "portal"
    STAFF_READ = "staff read"
    STAFF_WRITE = "staff write"
    METRICS = "metrics"


Kind = Literal["staff write", "staff read", "scraper", "customer"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Kind
    customer: str | None = None  # set for kind customer


STAFF_WRITE = Principal("staff write")
STAFF_READ = Principal("staff read")
SCRAPER = Principal("scraper")

# Which principals a role admits (public and portal: anyone, at this layer).
_ADMITS: Mapping[Role, tuple[Kind, ...]] = {
    Role.STAFF_READ: ("staff write", "staff read"),
    Role.STAFF_WRITE: ("staff write",),
    Role.METRICS: ("staff write", "staff read", "scraper"),
}
_SETTING: Mapping[Kind, str] = {
    "staff write": "server.api_token", "staff read": "server.read_token",
    "scraper": "server.metrics_token", "customer": "customers[].token",
}
_READS = ("GET", "HEAD")


class Principals:
    """Every token and whom it names; resolution compares all of them in constant time."""

    def __init__(self, tokens: Iterable[tuple[str, Principal]]):
        self._tokens = [(t.strip(), p) for t, p in tokens if t and t.strip()]

    @classmethod
    def from_config(cls, cfg: Config) -> Principals:
        s = cfg.server
        return cls([(s.api_token or "", STAFF_WRITE), (s.read_token or "", STAFF_READ),
                    (s.metrics_token or "", SCRAPER),
                    *((c.token or "", Principal("customer", c.id)) for c in cfg.customers)])

    def resolve(self, given: str) -> Principal | None:
        """Whom ``given`` names; None for no token, an unknown one, or one that names two
        principals (``check-config`` refuses that, so it is nobody's).  Every token is
        compared, no early exit: the time taken says nothing about which came close."""
        if not given:
            return None
        matched = [p for token, p in self._tokens if same_secret(given, token)]
        return matched[0] if len(matched) == 1 else None

    def configured(self, kinds: Iterable[Kind]) -> bool:
        wanted = set(kinds)
        return any(p.kind in wanted for _, p in self._tokens)


def admits(role: Role, method: str) -> tuple[Kind, ...]:
    """Whom a route of ``role`` lets in: a customer route, the customer (for itself) and
    staff who write, and staff who read when it is a read."""
    if role is Role.CUSTOMER:
        return ("customer", "staff write", *(("staff read",) if method in _READS else ()))
    return _ADMITS[role]


def allowed(role: Role, who: Principal | None, method: str) -> bool:
    if role in (Role.PUBLIC, Role.PORTAL):
        return True
    return who is not None and who.kind in admits(role, method)


# -- the table ----------------------------------------------------------------------------

_CLAIM = "/api/v1/claims/{id}"
_INCIDENT = "/api/v1/incidents/{id}"
_STATEMENT = "/api/v1/statements/{customer}/{month}"

ROUTES: Mapping[tuple[str, str], Role] = {
    # public: what a customer's browser and a load balancer need without signing in
    ("GET", "/"): Role.PUBLIC,
    ("GET", "/status"): Role.PUBLIC,
    ("GET", "/api/v1/status"): Role.PUBLIC,
    ("GET", "/healthz"): Role.PUBLIC,
    ("GET", "/static"): Role.PUBLIC,
    ("GET", "/favicon.ico"): Role.PUBLIC,
    ("GET", "/portal"): Role.PUBLIC,  # the sign-in form, or the signed-in home
    ("POST", "/portal/login"): Role.PUBLIC,
    ("POST", "/portal/logout"): Role.PUBLIC,
    # the portal, behind its own session cookie
    ("GET", "/portal/statements/{customer}/{month}.{fmt}"): Role.PORTAL,
    ("POST", "/portal/claims"): Role.PORTAL,
    ("GET", "/portal/claims/{id}"): Role.PORTAL,
    ("POST", "/portal/claims/{id}/confirm"): Role.PORTAL,
    ("GET", "/portal/claims/{id}/files/{n}"): Role.PORTAL,
    # a customer for itself, or staff
    ("GET", "/api/v1/slo"): Role.CUSTOMER,
    ("GET", "/api/v1/support"): Role.CUSTOMER,
    ("GET", "/api/v1/claims"): Role.CUSTOMER,
    ("POST", "/api/v1/claims"): Role.CUSTOMER,
    ("GET", _CLAIM): Role.CUSTOMER,
    ("GET", f"{_CLAIM}/files/{{n}}"): Role.CUSTOMER,
    ("POST", f"{_CLAIM}/confirm"): Role.CUSTOMER,
    ("GET", _STATEMENT): Role.CUSTOMER,
    ("GET", f"{_STATEMENT}/versions"): Role.CUSTOMER,
    # staff read
    ("GET", "/api/v1/results"): Role.STAFF_READ,
    ("GET", "/api/v1/incidents"): Role.STAFF_READ,
    ("GET", "/api/v1/incidents/stats"): Role.STAFF_READ,
    ("GET", _INCIDENT): Role.STAFF_READ,
    ("GET", "/api/v1/maintenance"): Role.STAFF_READ,
    ("GET", "/api/v1/results/{id}/evidence"): Role.STAFF_READ,
    ("GET", "/api/v1/results/{id}/evidence/{name}"): Role.STAFF_READ,
    ("GET", "/api/v1/evidence"): Role.STAFF_READ,
    ("GET", "/api/v1/capacity/runs"): Role.STAFF_READ,
    ("GET", "/api/v1/capacity/runs/{id}"): Role.STAFF_READ,
    ("GET", "/api/v1/capacity/runs/{id}/page"): Role.STAFF_READ,
    ("GET", "/metrics"): Role.METRICS,
    # staff write
    ("POST", "/api/v1/incidents"): Role.STAFF_WRITE,
    ("POST", f"{_INCIDENT}/acknowledge"): Role.STAFF_WRITE,
    ("POST", f"{_INCIDENT}/restore"): Role.STAFF_WRITE,
    ("POST", f"{_INCIDENT}/resolve"): Role.STAFF_WRITE,
    ("POST", f"{_INCIDENT}/priority"): Role.STAFF_WRITE,
    ("POST", "/api/v1/maintenance"): Role.STAFF_WRITE,
    ("POST", "/api/v1/maintenance/{id}/announce"): Role.STAFF_WRITE,
    ("POST", "/api/v1/alertmanager"): Role.STAFF_WRITE,
    ("POST", "/api/v1/capacity/runs"): Role.STAFF_WRITE,
    ("POST", "/api/v1/capacity/kill"): Role.STAFF_WRITE,
    ("POST", f"{_CLAIM}/review"): Role.STAFF_WRITE,
    ("POST", f"{_CLAIM}/confirm-technical"): Role.STAFF_WRITE,
    ("POST", f"{_CLAIM}/compute"): Role.STAFF_WRITE,
    ("POST", f"{_CLAIM}/execute"): Role.STAFF_WRITE,
    ("POST", f"{_CLAIM}/reject"): Role.STAFF_WRITE,
}


def route_key(route: web.AbstractRoute) -> tuple[str, str]:
    """(method, path without its regexes): ``/api/v1/claims/{id:…}`` → ``…/{id}``; HEAD is
    a GET; a static directory is its prefix."""
    info = route.resource.get_info() if route.resource is not None else {}
    path = info.get("formatter") or info.get("path") or info.get("prefix") or ""
    return ("GET" if route.method == "HEAD" else route.method), path


def role_of(request: web.Request) -> Role | None:
    """The role of the matched route; None when no route matched (aiohttp answers 404/405)."""
    info = request.match_info
    if info.http_exception is not None:
        return None
    return ROUTES.get(route_key(info.route))


PRINCIPALS: web.AppKey[Principals] = web.AppKey("principals", Principals)
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")


def principal(request: web.Request) -> Principal | None:
    """Who the access check found (None: anonymous, or no access check ran)."""
    return request.get(PRINCIPAL)


def protect(app: web.Application, principals: Principals) -> None:
    """Put ``app``'s routes behind :data:`ROUTES` (before the app starts)."""
    app[PRINCIPALS] = principals
    app.middlewares.append(access_control)


@web.middleware
async def access_control(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route or method: aiohttp's 404/405
    role = role_of(request)
    if role is None:  # a route without a role is nobody's (a test keeps this empty)
        raise error(web.HTTPForbidden, f"{request.path[:100]}: no role is defined for this "
                    "route")
    principals = request.app[PRINCIPALS]
    who = principals.resolve(bearer(request))
    request[PRINCIPAL] = who
    if allowed(role, who, request.method):
        return await handler(request)
    kinds = admits(role, request.method)
    if not principals.configured(kinds):
        settings = " or ".join(dict.fromkeys(_SETTING[k] for k in kinds))
        raise error(web.HTTPForbidden, f"this endpoint needs {role} access, and no token "
                    f"has it: set {settings} in the configuration")
    if who is None:
        raise unauthorized()
    raise error(web.HTTPForbidden, f"this endpoint needs {role} access; this token is "
                f"{who.kind}")
