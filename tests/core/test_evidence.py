"""The evidence store (slaguard.evidence), its scrubbing and its HTTP routes
(slaguard.evidence_api), on real files and a real aiohttp server."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from slaguard.domain import result_id
from slaguard.evidence import SCRUBBED, EvidenceStore, parse_result_id, scrub_har, scrub_trace
from slaguard.evidence_api import evidence_url, register_routes, span_url

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
DAY = 86_400_000
T0 = 1_796_000_000_000


def _trace(cookie: str, auth: str) -> bytes:
    """A trace shaped like Playwright's: a context event with extraHTTPHeaders, and
    network entries with request and response headers and cookie lists."""
    context = {"type": "context-options", "options": {
        "extraHTTPHeaders": [{"name": "Authorization", "value": auth}],
        "headers": {"authorization": auth}}}
    network = {"type": "resource-snapshot", "snapshot": {
        "request": {"url": "http://x/img", "headers": [
            {"name": "Cookie", "value": f"session={cookie}"},
            {"name": "authorization", "value": auth}, {"name": "Accept", "value": "*/*"}],
            "cookies": [{"name": "session", "value": cookie}]},
        "response": {"status": 200, "headers": [
            {"name": "Set-Cookie", "value": f"session={cookie}; Path=/"}],
            "cookies": [{"name": "session", "value": cookie}]}}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("trace.trace", json.dumps(context) + "\n")
        z.writestr("trace.network", json.dumps(network) + "\n")
        z.writestr("resources/page.html", f"<p>echo {auth}</p>")
    return out.getvalue()


def test_scrubbed_trace_holds_no_cookie_or_authorization() -> None:
    cookie, auth = "cookie-value-123456", "Bearer token-value-654321"
    scrubbed = scrub_trace(_trace(cookie, auth), secrets=[auth])
    with zipfile.ZipFile(io.BytesIO(scrubbed)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    assert set(members) == {"trace.trace", "trace.network", "resources/page.html"}
    for data in members.values():
        assert cookie.encode() not in data and b"token-value-654321" not in data
    net = json.loads(members["trace.network"])["snapshot"]
    assert net["request"]["headers"][2] == {"name": "Accept", "value": "*/*"}  # kept
    assert net["request"]["headers"][0]["value"] == SCRUBBED
    assert net["response"]["cookies"] == [{"name": "session", "value": SCRUBBED}]
    # Structure alone does it for values nobody told us (a cookie the site set).
    alone = scrub_trace(_trace(cookie, auth))
    with zipfile.ZipFile(io.BytesIO(alone)) as z:
        assert all(cookie.encode() not in z.read(n) for n in ("trace.trace", "trace.network"))


def test_scrubbed_har() -> None:
    har = {"log": {"entries": [{"request": {"headers": [
        {"name": "Authorization", "value": "Bearer abcdef-secret"}],
        "cookies": [{"name": "s", "value": "v-secret-1"}]}}]}}
    out = scrub_har(json.dumps(har).encode(), ["Bearer abcdef-secret"])
    assert b"abcdef-secret" not in out and b"v-secret-1" not in out
    assert json.loads(out)["log"]["entries"][0]["request"]["headers"][0]["value"] == SCRUBBED


def test_store_saves_lists_serves_and_purges(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    old, new = result_id("web", "sh", T0), result_id("web", "sh", T0 + 10 * DAY)
    other = result_id("api/../x", "bj 1", T0)  # quoted: cannot climb out of the root
    for rid in (old, new, other):
        store.save(rid, {"screenshot.png": b"\x89PNG", "meta.json": b"{}"})
    assert [f.name for f in store.files(new)] == ["meta.json", "screenshot.png"]
    assert store.files(result_id("web", "sh", T0 + 1)) == []
    assert store.path(new, "screenshot.png") is not None
    assert store.path(new, "../../etc/passwd") is None and store.path(new, "trace.zip") is None
    assert all(tmp_path in p.parents for p in tmp_path.rglob("*"))
    assert store.ids("web") == [old, new] and store.ids("api/../x") == [other]
    with pytest.raises(ValueError, match=r"not an evidence file: x\.sh"):
        store.save(new, {"x.sh": b""})
    # Keep 7 days at T0 + 10 days: the old one goes, the new one stays.
    assert store.purge_due("web", T0 + 10 * DAY)
    assert store.purge("web", 7 * DAY, T0 + 10 * DAY) == 1
    assert store.ids("web") == [new] and not store.purge_due("web", T0 + 10 * DAY + 1000)


@pytest.mark.parametrize("bad", ["web", "web@sh", "web@sh@12x", "@sh@1", "web@@1"])
def test_a_malformed_result_id_names_the_field(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^id: not a result id"):
        parse_result_id(bad)


async def test_routes_list_and_serve_a_results_evidence(
        tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    store = EvidenceStore(tmp_path)
    rid = result_id("web-home", "shanghai", T0)
    store.save(rid, {"screenshot.png": b"\x89PNG-bytes", "trace.zip": b"PK-bytes"})
    app = web.Application()
    register_routes(app, store)
    client = await aiohttp_client(app)
    url = evidence_url(rid)
    assert url == f"/api/v1/results/web-home@shanghai@{T0}/evidence"
    resp = await client.get(url)
    assert resp.status == 200
    doc = await resp.json()
    assert doc == {"result": rid, "files": [
        {"name": "screenshot.png", "size": 10, "content_type": "image/png",
         "url": f"{url}/screenshot.png"},
        {"name": "trace.zip", "size": 8, "content_type": "application/zip",
         "url": f"{url}/trace.zip"}]}
    shot = await client.get(f"{url}/screenshot.png")
    assert shot.status == 200 and await shot.read() == b"\x89PNG-bytes"
    assert shot.headers["Content-Type"] == "image/png"
    trace = await client.get(f"{url}/trace.zip")
    assert trace.headers["Content-Disposition"] == 'attachment; filename="trace.zip"'
    # No evidence (a success): an empty list, so a link never breaks.
    none = await client.get(evidence_url(result_id("web-home", "shanghai", T0 + 1)))
    assert none.status == 200 and (await none.json())["files"] == []
    missing = await client.get(f"{url}/page.har")
    assert missing.status == 404 and (await missing.json())["field"] == "name"
    bad = await client.get("/api/v1/results/nonsense/evidence")
    assert bad.status == 400
    assert await bad.json() == {"error": "id: not a result id (target@location@ts_ms)",
                                "field": "id"}


async def test_an_outages_link_lists_the_evidence_of_its_span(
        tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    store = EvidenceStore(tmp_path)
    ids = [result_id("web-home", loc, T0 + i * 30_000) for i, loc in
           enumerate(["shanghai", "beijing", "shanghai"])]
    for rid in ids:
        store.save(rid, {"screenshot.png": b"png"})
    app = web.Application()
    register_routes(app, store)
    client = await aiohttp_client(app)
    url = span_url("web-home", T0 + 1, T0 + 60_000)
    assert url == f"/api/v1/evidence?target=web-home&from={T0 + 1}&to={T0 + 60_000}"
    doc = await (await client.get(url)).json()
    assert [r["result"] for r in doc["results"]] == [ids[1]] and doc["more"] is False
    doc = await (await client.get(span_url("web-home", T0))).json()
    assert [r["result"] for r in doc["results"]] == ids
    bad = await client.get("/api/v1/evidence?target=web-home")
    assert bad.status == 400 and await bad.json() == {"error": "from: required",
                                                      "field": "from"}
