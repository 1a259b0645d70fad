"""Claims through the portal, over aiohttp's test client on the claims record (acme is owed
1 200.00 for October 2026; now is 11-06 09:00): step 1 from the form with evidence files,
the session-bound form token, the file checks, downloads for staff and the claim's customer
only, the claim page with its steps and audit trail, and step 5 from the portal."""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from compensation.claims import (
    MAX_FILE_BYTES,
    MAX_FILES,
    Actor,
    evidence_file,
)
from tests.claims import kit

from . import portal_kit as pk

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
REASON = "10 月 20 日上午核心服务无法打开 / core down on the morning of 10-20"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pk.write_template(tmp_path_factory.mktemp("portal-claims") / "template.db")


@pytest.fixture
def w(template: Path, tmp_path: Path) -> Iterator[pk.World]:
    world = pk.world(template, tmp_path)
    yield world
    world.close()


@pytest.fixture
async def client(w: pk.World, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(w.app())


async def signed_in(client: TestClient[Any, Any], token: str = kit.ACME_TOKEN) -> str:
    """Sign in with the form; the page's form token."""
    resp = await client.post("/portal/login", data={"token": token}, allow_redirects=False)
    assert resp.status == 303
    return form_token(await (await client.get("/portal")).text())


def form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no form token in the page"
    return found.group(1)


def claim_form(csrf: str | None, files: Sequence[tuple[str, bytes]] = (),
               month: str = "2026-10", description: str = REASON,
               evidence: str = "工单 T-123\nhttps://status.example.com/2026-10-20") -> FormData:
    form = FormData(quote_fields=False)  # names as a browser sends them: raw UTF-8
    if csrf is not None:
        form.add_field("csrf", csrf)
    form.add_field("month", month)
    form.add_field("description", description)
    form.add_field("evidence", evidence)
    for name, data in files:
        form.add_field("files", io.BytesIO(data), filename=name,
                       content_type="application/octet-stream")
    return form


async def submit(client: TestClient[Any, Any], form: FormData, status: int = 303,
                 **headers: str) -> Any:
    resp = await client.post("/portal/claims", data=form, allow_redirects=False,
                             headers=headers)
    assert resp.status == status, await resp.text()
    return resp


async def test_a_claim_from_the_form_is_stored_with_its_files_and_audited(
        client: TestClient[Any, Any], w: pk.World) -> None:
    csrf = await signed_in(client)
    resp = await submit(client, claim_form(csrf, [("网关日志.log", pk.LOG),
                                                  ("C:\\截图\\shot.png", pk.PNG)]))
    assert resp.headers["Location"] == "/portal/claims/CLM-1"
    claim, log = w.claims.get("CLM-1", Actor.of_customer("acme"))
    assert (claim.customer, claim.month, claim.state, claim.description) == (
        "acme", "2026-10", "submitted", REASON)
    assert claim.evidence == ("工单 T-123", "https://status.example.com/2026-10-20")
    files = w.claims.files("CLM-1", pk.STAFF)
    assert [(f.n, f.name, f.content_type, f.size) for f in files] == [
        (1, "网关日志.log", "text/plain; charset=utf-8", len(pk.LOG)),
        (2, "shot.png", "image/png", len(pk.PNG))]  # the path a browser may send is dropped
    assert [(e.actor, e.role, e.action, e.to_state) for e in log] == [
        ("customer:acme", "customer", "submit", "submitted")]
    assert log[0].detail["evidence"] == 2
    assert [f["name"] for f in log[0].detail["files"]] == ["网关日志.log", "shot.png"]
    assert log[0].detail["files"][1]["sha256"] == files[1].sha256

    page = await (await client.get("/portal/claims/CLM-1")).text()
    for text in ("1/6 客户提交补偿申请及相关证明", 'aria-current="step"', "运营团队审核申请材料",
                 "工单 T-123", 'href="/portal/claims/CLM-1/files/1"', "网关日志.log",
                 "text/plain", "提交申请", "您", "文件 files: 网关日志.log、shot.png"):
        assert text in page, text
    home = await (await client.get("/portal")).text()
    assert 'href="/portal/claims/CLM-1"' in home and "1/6 客户提交补偿申请及相关证明" in home


async def test_the_form_needs_this_sessions_token(client: TestClient[Any, Any],
                                                  w: pk.World, aiohttp_client: ClientFactory
                                                  ) -> None:
    other = await aiohttp_client(w.app())  # globex's session: a valid token, not acme's
    globex_csrf = await signed_in(other, kit.GLOBEX_TOKEN)
    csrf = await signed_in(client)
    assert globex_csrf != csrf
    for form in (claim_form(None), claim_form("0" * 64), claim_form(globex_csrf)):
        resp = await submit(client, form, 403)
        assert "reload the page" in await resp.text()
    # even with the right token, a cross-site POST is refused before its upload is read
    await submit(client, claim_form(csrf), 403, **{"Sec-Fetch-Site": "cross-site"})
    assert w.claims.find(pk.STAFF) == []
    await submit(client, claim_form(csrf), 303, **{"Sec-Fetch-Site": "same-origin"})


async def test_a_script_with_the_bearer_token_needs_no_form_token(
        client: TestClient[Any, Any], w: pk.World) -> None:
    await submit(client, claim_form(None), 303, Authorization=f"Bearer {kit.ACME_TOKEN}")
    assert [c.customer for c in w.claims.find(pk.STAFF)] == ["acme"]


@pytest.mark.parametrize(("files", "message"), [
    ([("report.docx", b"PK\x03\x04word/document.xml")],
     "files[0] (report.docx): only PDF, PNG, JPEG or UTF-8 text (.txt, .log, .csv) files are "
     "accepted"),
    ([("a.txt", b"ok"), ("screenshot.pdf", pk.PNG)],
     "files[1] (screenshot.pdf): the content is image/png, so the name must end in .png"),
    ([("empty.pdf", b"")], "files[0] (empty.pdf): the file is empty"),
    ([("big.log", b"x" * (MAX_FILE_BYTES + 1))], "files[0] (big.log): larger than 5 MiB"),
    ([(f"{n}.txt", b"x") for n in range(MAX_FILES + 1)], "files: at most 5 files"),
    ([("latin1.txt", "Café".encode("latin-1"))], "files[0] (latin1.txt): only PDF"),
])
async def test_refused_files_say_why_and_nothing_is_stored(
        client: TestClient[Any, Any], w: pk.World, files: list[tuple[str, bytes]],
        message: str) -> None:
    csrf = await signed_in(client)
    resp = await submit(client, claim_form(csrf, files), 400)
    page = await resp.text()
    assert "申请未提交" in page and message in page, page[:2000]
    assert REASON in page  # what was typed is kept
    assert w.claims.find(pk.STAFF) == []


async def test_an_upload_larger_than_the_form_allows_is_refused_unread(
        client: TestClient[Any, Any]) -> None:
    csrf = await signed_in(client)
    resp = await client.post("/portal/claims", data=b"x" * 10, headers={
        "Content-Type": "multipart/form-data; boundary=x", "X-Csrf": csrf,
        "Content-Length": str(MAX_FILES * MAX_FILE_BYTES + 2 * 1024 * 1024)})
    assert resp.status == 413


@pytest.mark.parametrize(("month", "description", "status", "message"), [
    ("2026-10", "   ", 400, "description: required non-empty string"),
    ("2026-13", REASON, 400, "month"),
    ("2026-12", REASON, 400, "month: 2026-12 has not begun"),
])
async def test_a_bad_claim_is_refused_with_the_field_named(
        client: TestClient[Any, Any], w: pk.World, month: str, description: str,
        status: int, message: str) -> None:
    csrf = await signed_in(client)
    resp = await submit(client, claim_form(csrf, month=month, description=description), status)
    assert message in await resp.text()
    assert w.claims.find(pk.STAFF) == []


async def test_one_live_claim_a_month(client: TestClient[Any, Any]) -> None:
    csrf = await signed_in(client)
    await submit(client, claim_form(csrf))
    resp = await submit(client, claim_form(csrf), 409)
    assert "CLM-1 is already the claim of acme for 2026-10" in await resp.text()
    page = await (await client.get("/portal")).text()
    assert '<option value="2026-10"' not in page  # no longer offered
    assert '<option value="2026-11"' in page


async def test_evidence_files_are_for_staff_and_that_customer_only(
        client: TestClient[Any, Any], w: pk.World, aiohttp_client: ClientFactory) -> None:
    csrf = await signed_in(client)
    await submit(client, claim_form(csrf, [("shot.png", pk.PNG), ("说明.pdf", pk.PDF)]))
    resp = await client.get("/portal/claims/CLM-1/files/2")
    assert resp.status == 200 and await resp.read() == pk.PDF
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E8%AF%B4%E6%98%8E.pdf")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "private, no-store"
    assert (await client.get("/portal/claims/CLM-1/files/3")).status == 404

    stranger = await aiohttp_client(w.app())
    assert (await stranger.get("/portal/claims/CLM-1/files/1")).status == 401
    globex = {"Authorization": f"Bearer {kit.GLOBEX_TOKEN}"}
    assert (await stranger.get("/portal/claims/CLM-1/files/1", headers=globex)).status == 403
    assert (await stranger.get("/portal/claims/CLM-1", headers=globex)).status == 403
    assert (await stranger.get("/portal/claims/CLM-9", headers=globex)).status == 404
    # the API: staff and acme may, globex may not
    assert (await stranger.get("/api/v1/claims/CLM-1/files/1", headers=globex)).status == 403
    for headers in (kit.STAFF, kit.ACME):
        resp = await stranger.get("/api/v1/claims/CLM-1/files/1", headers=headers)
        assert resp.status == 200 and await resp.read() == pk.PNG
    doc = await (await stranger.get("/api/v1/claims/CLM-1", headers=kit.STAFF)).json()
    assert [(f["n"], f["name"], f["content_type"], f["size"]) for f in doc["claim"]["files"]] == [
        (1, "shot.png", "image/png", len(pk.PNG)), (2, "说明.pdf", "application/pdf", len(pk.PDF))]


async def test_the_customer_confirms_the_settlement_in_the_portal(
        client: TestClient[Any, Any], w: pk.World) -> None:
    csrf = await signed_in(client)
    await submit(client, claim_form(csrf))
    w.advance("CLM-1", "computed")
    page = await (await client.get("/portal/claims/CLM-1")).text()
    for text in ("4/6 财务部门计算补偿金额", "确认补偿方案", "1200.00 CNY",
                 'value="fee_reduction"', 'value="extension"', "计算金额", "服务方",
                 "ops-li", "中断 outages: 1", ">2026-10-20 10:45</time> (2700 s)"):
        assert text in page, text
    resp = await client.post("/portal/claims/CLM-1/confirm", allow_redirects=False,
                             data={"settlement": "extension"})
    assert resp.status == 403  # no form token
    resp = await client.post("/portal/claims/CLM-1/confirm", allow_redirects=False,
                             data={"csrf": form_token(page), "settlement": "barter"})
    assert resp.status == 400 and "settlement: choose one of" in await resp.text()
    resp = await client.post("/portal/claims/CLM-1/confirm", allow_redirects=False,
                             data={"csrf": form_token(page), "settlement": "extension"})
    assert (resp.status, resp.headers["Location"]) == (303, "/portal/claims/CLM-1")
    claim, log = w.claims.get("CLM-1", pk.STAFF)
    assert (claim.state, claim.settlement) == ("confirmed", "extension")
    assert (log[-1].actor, log[-1].action) == ("customer:acme", "confirm")
    page = await (await client.get("/portal/claims/CLM-1")).text()
    assert "5/6 客户确认补偿方案" in page and "客户确认" in page
    assert 'action="/portal/claims/CLM-1/confirm"' not in page  # done: no form any more
    resp = await client.post("/portal/claims/CLM-1/confirm", allow_redirects=False,
                             data={"csrf": csrf, "settlement": "extension"})
    assert resp.status == 409 and "cannot confirm" in await resp.text()


# -- the checks themselves (pure) -----------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "kind"), [
    ("a.pdf", pk.PDF, "application/pdf"), ("A.PNG", pk.PNG, "image/png"),
    ("photo.jpeg", b"\xff\xd8\xff\xe0rest", "image/jpeg"),
    ("photo.jpg", b"\xff\xd8\xff\xe1rest", "image/jpeg"),
    ("notes.txt", "停机 10:02–10:45".encode(), "text/plain; charset=utf-8"),
    ("export.csv", b"ts,status\n", "text/plain; charset=utf-8"),
    ("/etc/../gateway.log", b"502\n", "text/plain; charset=utf-8"),
])
def test_accepted_files_are_typed_by_their_bytes(name: str, data: bytes, kind: str) -> None:
    f = evidence_file(name, data)
    assert (f.content_type, f.data) == (kind, data)
    assert "/" not in f.name


@pytest.mark.parametrize(("name", "data", "message"), [
    ("x.html", b"<script>alert(1)</script>", "files[0] (x.html): only PDF"),
    ("x.txt", b"%PDF-1.4", "the content is application/pdf, so the name must end in .pdf"),
    ("x.txt", b"a\0b", "only PDF"),
    ("x.svg", b"<svg/>", "only PDF"),
    ("", b"x", "files[0]: the file needs a name"),
    ("\x00\x1b", b"x", "files[0]: the file needs a name"),
])
def test_refused_files(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        evidence_file(name, data)


async def test_stored_files_cannot_be_changed_or_removed(client: TestClient[Any, Any],
                                                         w: pk.World) -> None:
    await submit(client, claim_form(None, [("a.txt", b"first")]), 303,
                 Authorization=f"Bearer {kit.ACME_TOKEN}")
    db = sqlite3.connect(w.cfg.storage.path)
    try:
        for sql in ("UPDATE claims_files SET data = x'00'", "DELETE FROM claims_files"):
            with pytest.raises(sqlite3.IntegrityError, match="kept as submitted"):
                db.execute(sql)
    finally:
        db.close()
