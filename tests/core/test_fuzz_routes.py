"""No input gives a 5xx: generated requests over every route of the real application.

The application is the one ``slaguard run`` serves (``App.web_app``: the core API,
alerting, claims, the status page, the portal), behind a real loopback server.
Hypothesis drives 10 000 requests across the tests below, every route the router has
(enumerated, so a new route is fuzzed without editing this file) × every role
(anonymous, a customer's token, staff's token), with hostile parameters: Unicode and
30-digit numbers, years 0001 and 9999, JSON of every type where a field is expected,
deep nesting, oversize cookies, multipart without a boundary, very long paths.  Every
answer must be below 500, every 4xx under ``/api/`` a JSON error naming its field where
it is about one, and nothing may be logged with a traceback.

Examples are derandomized (CI is stable) and the deadline is off (a shared machine is
slow at times).  PDF renderings are left out: they take a second each and parse
nothing a fuzzer could reach that HTML does not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slaguard.app import App
from slaguard.config import parse_config
from slaguard.server import RejectionLog, quiet_rejections, serve
from tests.conftest import api_config

STAFF = "staff-token-for-fuzz"
CUSTOMER = "acme-token-for-fuzz"
ROLES = {"anonymous": None, "customer": CUSTOMER, "staff": STAFF}
FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
# Requests per test, 10 000 in all; fewer queries: a valid month there evaluates a report
# or renders a statement (tens of ms), where a write is refused in one or two.
EXAMPLES = {"any": 3000, "writes": 3500, "claims": 2500, "queries": 1000}


class Tracebacks(logging.Handler):
    """Every record logged at ERROR or with a traceback, whoever logs it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@dataclass
class Site:
    loop: asyncio.AbstractEventLoop
    client: TestClient[Any, Any]
    routes: list[tuple[str, str]]  # (method, path pattern) of every route
    logged: Tracebacks
    answers: dict[int, int] = field(default_factory=dict)
    strategies: dict[tuple[tuple[str, str], ...], st.SearchStrategy[dict[str, Any]]] = \
        field(default_factory=dict)

    def requests(self, routes: list[tuple[str, str]] | None
                 ) -> st.SearchStrategy[dict[str, Any]]:
        """Requests to ``routes`` (all by default), the strategy built once per route set."""
        key = tuple(routes or self.routes)
        if key not in self.strategies:
            self.strategies[key] = requests(st.sampled_from(key))
        return self.strategies[key]

    def request(self, method: str, path: str, **kw: Any) -> tuple[int, str, bytes]:
        async def go() -> tuple[int, str, bytes]:
            async with self.client.request(method, path, allow_redirects=False, **kw) as r:
                return r.status, r.content_type, await r.read()
        status, ctype, data = self.loop.run_until_complete(go())
        self.answers[status] = self.answers.get(status, 0) + 1
        return status, ctype, data



@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("fuzz")
    cfg, _ = parse_config(api_config(tmp, STAFF, CUSTOMER), env={})
    loop = asyncio.new_event_loop()
    logged = Tracebacks()
    logging.getLogger().addHandler(logged)
    app = App(cfg, serve_http=False)

    quiet_rejections()  # as slaguard.server.serve does: the test server is aiohttp's own

    async def start() -> TestClient[Any, Any]:
        client = TestClient(TestServer(app.web_app()))
        await client.start_server()
        return client

    client = loop.run_until_complete(start())
    routes = sorted({(r.method, r.resource.canonical) for r in client.app.router.routes()
                     if r.resource is not None and r.method != "HEAD"})
    try:
        yield Site(loop, client, routes, logged)
    finally:
        loop.run_until_complete(client.close())
        loop.run_until_complete(app.stop())
        loop.close()
        logging.getLogger().removeHandler(logged)


# -- what a hostile client sends -----------------------------------------------------------

NUMBERS = st.sampled_from([
    "1", "7", "0", "-1", "²", "١٢", "٣", "１２", "9" * 30, "9" * 25, "9" * 5000, "1e3", "0x10",
    " 1", "1.5", "NaN", "", "00000000000000000000001", str(2**63), str(2**64)])
INSTANTS = st.sampled_from([
    "2026-01-15T00:00:00Z", "2026-01-15T00:00:00+08:00", "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59Z", "1999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z", "2026-01-15", "2026-13-01T00:00:00Z", "１９７０-01-01T00:00:00Z",
    "1767225600000", "99999999999999999999999999", "-5"])
MONTHS = st.sampled_from(["2026-01", "2025-12", "0001-01", "9999-12", "2026-13", "2026-00",
                          "２０２６-01", "٢٠٢٦-٠١", "2026-1", "x" * 300, ""])
TEXT = st.text(max_size=12)
WEIRD = st.one_of(NUMBERS, INSTANTS, MONTHS, TEXT, st.just("x" * 3000))
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      TEXT, NUMBERS, INSTANTS, MONTHS, st.just("P1"), st.just("core"),
                      st.just("acme"))
# Two levels are enough to reach every type check (depth itself: "deep" bodies below);
# st.recursive would cost more generation time than the requests themselves.
JSON_ANY = st.one_of(JSON_LEAF, st.lists(JSON_LEAF, max_size=3),
                     st.dictionaries(TEXT, JSON_LEAF, max_size=3))
FIELDS = ["priority", "labels", "summary", "id", "start", "end", "announced", "by", "note",
          "services", "title", "service", "reason", "month", "description", "evidence",
          "settlement", "customer", "reference", "alerts", "version", "status", "annotations",
          "fingerprint"]
# A body that looks like ours: known fields, each of any JSON type.
JSON_DOC = st.dictionaries(st.sampled_from(FIELDS), JSON_ANY, max_size=8)
QUERY_NAMES = ["from", "to", "limit", "month", "service", "target", "location", "state",
               "customer", "format", "version", "x"]
PATH_VALUES = {
    "id": st.sampled_from(["1", "7", "INC-1", "CLM-1", "clm-1", "INC-" + "9" * 25,
                           "CLM-" + "9" * 25, "9" * 25, "9" * 5000, "MW-1", "x", "%ff"]),
    "n": st.sampled_from(["1", "0", "999", "9" * 30]),
    "customer": st.sampled_from(["acme", "other", "x" * 2000, "%2e%2e", "a:b"]),
    "month": MONTHS.filter(bool),
    "fmt": st.sampled_from(["html", "csv", "json"]),
}
ANY_SEGMENT = TEXT.map(lambda s: s or "x")
STATIC = st.sampled_from(["/static/", "/static/portal.css", "/static/" + "a" * 5000,
                          "/static/../../etc/passwd"])
# Strategies are built once, here: building one per example costs more than the request.
BODY_KINDS = st.sampled_from(["none", "json", "json", "json", "any", "deep", "raw",
                              "multipart", "form", "badutf8"])
DEEP = st.tuples(st.sampled_from(["[", '{"a":']), st.sampled_from([40, 1000, 100_000]))
MULTIPART = st.sampled_from(["multipart/form-data", "multipart/form-data; boundary=",
                             "multipart/form-data; boundary=zz", "multipart/mixed"])
RAW = st.binary(max_size=64)
FORM = st.text(alphabet=string.printable, max_size=64)


ACCEPTS = ["application/json", "*/*", "text/html", "text/html;q=abc"]
AUTHS = ["role", "role", "role", "basic", "long", "unicode", "empty"]
COOKIES = [None, None, None, None, None, "acme.9999999999999.00", "acme." + "9" * 5000 + ".ab",
           "acme.²³.ab", "x" * 6000, "acme.1.2.3", ""]
# One draw for all headers: generation, not the requests, is what costs time here.
HEADERS = st.tuples(st.sampled_from(ACCEPTS), st.sampled_from(list(ROLES)),
                    st.sampled_from(AUTHS), st.sampled_from(COOKIES))


def _fill(pattern: str, draw: st.DrawFn) -> str:
    """A concrete path for a route pattern (``{id}`` → a drawn value)."""
    def one(m: re.Match[str]) -> str:
        return draw(PATH_VALUES.get(m[1], ANY_SEGMENT))
    return re.sub(r"\{([a-z]+)(?::[^}]*)?\}", one, pattern)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes | None, dict[str, str]]:
    kind = draw(BODY_KINDS)
    if kind == "none":
        return None, {}
    if kind in ("json", "any"):
        doc = draw(JSON_DOC if kind == "json" else JSON_ANY)
        return json.dumps(doc).encode(), {"Content-Type": "application/json"}
    if kind == "deep":
        opener, times = draw(DEEP)
        return (opener * times).encode(), {"Content-Type": "application/json"}
    if kind == "raw":
        return draw(RAW), {"Content-Type": "application/json"}
    if kind == "multipart":  # no boundary, or a bogus one
        return draw(RAW), {"Content-Type": draw(MULTIPART)}
    if kind == "form":
        return draw(FORM).encode(), {
            "Content-Type": "application/x-www-form-urlencoded"}
    return b'{"by": "\xff\xfe"}', {"Content-Type": "application/json"}


@st.composite
def requests(draw: st.DrawFn, routes: st.SearchStrategy[tuple[str, str]]) -> dict[str, Any]:
    method, pattern = draw(routes)
    if pattern == "/static":
        pattern = draw(STATIC)
    path = _fill(pattern, draw)
    query = dict(draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES), WEIRD), max_size=2)))
    if query.get("format") == "pdf":
        del query["format"]
    accept, role, auth, cookie = draw(HEADERS)
    headers = {"Accept": accept}
    token = ROLES[role]
    if token and auth == "role":
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "basic":
        headers["Authorization"] = "Basic eDp5"
    elif auth == "long":
        headers["Authorization"] = "Bearer " + "t" * 5000
    elif auth == "unicode":
        headers["Authorization"] = "Bearer ☃" + (token or "")
    if cookie is not None:
        headers["Cookie"] = "slaguard_portal=" + cookie
    data, extra = (None, {}) if method == "GET" else draw(bodies())
    return {"method": method, "path": path, "params": query, "data": data,
            "headers": {**headers, **extra}}


# -- what must hold of every answer ------------------------------------------------------------


def check(site: Site, req: dict[str, Any]) -> None:
    status, ctype, data = site.request(req["method"], req["path"], params=req["params"],
                                       data=req["data"], headers=req["headers"])
    assert status < 500, (req["method"], req["path"][:200], str(req["params"])[:300], status,
                          data[:300])
    # A request line over 8 KiB is refused by aiohttp's protocol layer before any route
    # (plain text, and one rate-limited WARNING: see the last tests).
    line = len(req["path"]) + sum(len(k) + len(v) for k, v in req["params"].items())
    if 400 <= status < 500 and req["path"].startswith("/api/") and line < 8000:
        assert ctype == "application/json", (req["path"], status, ctype)
        doc = json.loads(data)
        assert set(doc) == {"error", "field"} and doc["error"], doc
        if status == 400:  # a refused input is named
            assert doc["field"], (req["path"], req["params"], doc)
    bad = [r for r in site.logged.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [(r.name, r.getMessage()[:300], str(r.exc_info)[:300]) for r in bad]


def _routes(site: Site, prefix: str) -> list[tuple[str, str]]:
    return [r for r in site.routes if r[1].startswith(prefix)] or site.routes


def test_ten_thousand_requests_in_all() -> None:
    assert sum(EXAMPLES.values()) >= 10_000


def test_every_route_is_enumerated(site: Site) -> None:
    patterns = {p for _, p in site.routes}
    assert {"/api/v1/results", "/api/v1/incidents/{id}/priority", "/api/v1/maintenance",
            "/api/v1/claims/{id}/files/{n}", "/portal/claims", "/static",
            "/api/v1/statements/{customer}/{month}"} <= patterns


@settings(FUZZ, max_examples=EXAMPLES["any"])
@given(data=st.data())
def test_any_request_to_any_route_is_answered_below_500(site: Site, data: st.DataObject
                                                        ) -> None:
    check(site, data.draw(site.requests(None)))


@settings(FUZZ, max_examples=EXAMPLES["writes"])
@given(data=st.data())
def test_incident_and_maintenance_writes_refuse_bad_fields(site: Site, data: st.DataObject
                                                           ) -> None:
    routes = [r for r in site.routes if r[0] == "POST" and r[1].startswith(
        ("/api/v1/incidents", "/api/v1/maintenance", "/api/v1/alertmanager"))]
    check(site, data.draw(site.requests(routes)))


@settings(FUZZ, max_examples=EXAMPLES["claims"])
@given(data=st.data())
def test_claims_statements_and_portal_refuse_bad_input(site: Site, data: st.DataObject
                                                       ) -> None:
    routes = [r for r in site.routes if r[1].startswith(
        ("/api/v1/claims", "/api/v1/statements", "/portal"))]
    check(site, data.draw(site.requests(routes)))


@settings(FUZZ, max_examples=EXAMPLES["queries"])
@given(data=st.data())
def test_queries_refuse_bad_numbers_instants_and_months(site: Site, data: st.DataObject
                                                        ) -> None:
    routes = [r for r in site.routes if r[0] == "GET" and r[1].startswith("/api/")]
    check(site, data.draw(site.requests(routes)))


def test_the_issue_examples_are_4xx_naming_the_field(site: Site) -> None:
    staff = {"Authorization": f"Bearer {STAFF}"}
    cases: list[tuple[str, str, dict[str, str], Any, str | None]] = [
        ("GET", "/api/v1/results", {"from": "²"}, None, "from"),
        ("GET", "/api/v1/results", {"limit": "9" * 5000}, None, "limit"),
        ("GET", "/api/v1/results", {"to": "9" * 30}, None, "to"),
        ("GET", "/api/v1/slo", {"month": "0001-01"}, None, "month"),
        ("GET", "/api/v1/incidents", {"month": "9999-12"}, None, "month"),
        ("POST", "/api/v1/incidents", {}, {"service": "core", "title": "t",
                                           "priority": {}}, "priority"),
        ("POST", "/api/v1/incidents", {}, "[" * 100_000, "body"),
        ("POST", "/api/v1/maintenance", {}, {"services": ["core"], "start":
                                             "2026-01-01T00:00:00Z", "end":
                                             "9999-12-31T23:59:59Z"}, "end"),
    ]
    for method, path, params, body, name in cases:
        data = body if isinstance(body, str) else None if body is None else json.dumps(body)
        status, ctype, raw = site.request(method, path, params=params, data=data,
                                          headers={**staff, "Content-Type": "application/json"})
        assert status == 400 and ctype == "application/json", (path, params, status, raw)
        assert json.loads(raw)["field"] == name, raw
    status, _, _ = site.request("GET", "/api/v1/incidents/INC-" + "9" * 25, headers=staff)
    assert status == 404
    status, _, _ = site.request("GET", "/api/v1/claims/CLM-" + "9" * 25, headers=staff)
    assert status == 404


def test_raw_bytes_a_client_cannot_encode(site: Site) -> None:
    """A non-UTF-8 bearer token and cookie: what only a raw socket sends."""
    server = site.client.server
    assert isinstance(server, TestServer) and server.port is not None

    async def send(raw: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(raw)
        await writer.drain()
        data = await reader.read(65536)
        writer.close()
        return data

    for method, path in ((b"POST", b"/api/v1/incidents/1/acknowledge"),
                         (b"GET", b"/api/v1/claims"), (b"GET", b"/portal")):
        answer = site.loop.run_until_complete(send(
            method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\x80\r\n"
            b"Cookie: slaguard_portal=\xff.\xfe\r\nContent-Length: 2\r\nConnection: close\r\n"
            b"\r\n{}"))
        status = int(answer.split(b" ", 2)[1])
        assert status in (401, 403), answer[:200]
    assert not site.logged.records


async def test_malformed_request_lines_are_one_rate_limited_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    logger = logging.getLogger("aiohttp.server")
    for f in [f for f in logger.filters if isinstance(f, RejectionLog)]:
        logger.removeFilter(f)
    flt = quiet_rejections()
    flt.clock = lambda: clock[0]
    runner = await serve(web.Application(), "127.0.0.1", 0)
    port = int(runner.addresses[0][1])
    try:
        caplog.set_level(logging.DEBUG, "aiohttp.server")
        for i in range(20):
            if i == 10:
                clock[0] += 61  # a minute later: the next one is reported with the count
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /\x00\x01 HTTP/1.1\r\nHost: x\r\n\r\n" if i % 2 else
                         b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
            await writer.drain()
            assert b" 400 " in (await reader.read(4096)).split(b"\r\n")[0]
            writer.close()
    finally:
        await runner.cleanup()
    logged = [r for r in caplog.records if r.name == "aiohttp.server"
              and r.levelno >= logging.INFO]
    assert [r.levelno for r in logged] == [logging.WARNING, logging.WARNING], \
        [r.getMessage() for r in logged]
    assert not any(r.exc_info for r in logged)
    assert "rejected 1 malformed" in logged[0].getMessage()
    assert "rejected 10 malformed" in logged[1].getMessage()


def test_a_handler_bug_still_logs_its_traceback() -> None:
    flt = RejectionLog()
    try:
        raise RuntimeError("a bug")
    except RuntimeError as e:
        record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1,
                                   "Error handling request", None, (type(e), e, None))
    assert flt.filter(record) and record.levelno == logging.ERROR and record.exc_info
