"""The demo platform's document-generation API, through a real loopback server: the
flow a journey walks (log in, upload, start 100 pages, poll, download, delete), the
scripted slow and failed jobs on the platform's clock, its errors, and probe traffic
kept out of billing."""

from __future__ import annotations

import io
import time
from typing import Any

import aiohttp
import pypdf

from demo.documents import FAIL_AT_PAGE, PAGE_MS, SLOW_PAGE_MS
from demo.load import PROBE_HEADER
from tests.demo_platform.conftest import Running

MiB = 2**20


def form(size: int) -> aiohttp.FormData:
    data = aiohttp.FormData()
    # a stream, not bytes: aiohttp warns about large raw bodies (warnings are errors here)
    data.add_field("file", io.BytesIO(b"t" * size), filename="tender.docx",
                   content_type="application/octet-stream")
    return data


async def start_job(demo: Running, auth: dict[str, str], pages: int = 100,
                    size: int = 2 * MiB) -> str:
    async with demo.http.post(f"{demo.url}/api/files", data=form(size), headers=auth) as r:
        assert r.status == 201, await r.text()
        upload = await r.json()
    assert upload["size"] == size
    async with demo.http.post(f"{demo.url}/api/documents", headers=auth,
                              json={"file": upload["id"], "pages": pages}) as r:
        assert r.status == 202, await r.text()
        return str((await r.json())["job_id"])


async def job(demo: Running, auth: dict[str, str], job_id: str) -> dict[str, Any]:
    async with demo.http.get(f"{demo.url}/api/jobs/{job_id}", headers=auth) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def test_the_whole_flow_gives_a_100_page_pdf_and_deletes_it(demo: Running) -> None:
    demo.at(200)
    auth = await demo.login()
    job_id = await start_job(demo, auth)
    demo.at(200 + 100 * PAGE_MS / 1000 - 0.001)  # 60 s for 100 pages: one short of done
    assert await job(demo, auth, job_id) == {"job_id": job_id, "pages": 100,
                                             "state": "running", "pages_done": 99}
    url = f"{demo.url}/api/documents/{job_id}/file"
    async with demo.http.get(url, headers=auth) as r:
        assert r.status == 409 and (await r.json())["field"] == "job"
    demo.at(200 + 100 * PAGE_MS / 1000)
    assert (await job(demo, auth, job_id))["state"] == "done"
    async with demo.http.get(url, headers=auth) as r:
        assert r.status == 200 and r.content_type == "application/pdf"
        pdf = await r.read()
    assert len(pdf) > 100 * 1024
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 100
    assert "page 100 of 100" in reader.pages[99].extract_text()
    async with demo.http.delete(f"{demo.url}/api/documents/{job_id}", headers=auth) as r:
        assert r.status == 204
    async with demo.http.get(f"{demo.url}/api/jobs/{job_id}", headers=auth) as r:
        assert r.status == 404


async def test_a_job_started_in_the_slow_window_misses_ten_minutes(demo: Running) -> None:
    demo.at(399)  # slow-generation: 360–400 s
    auth = await demo.login()
    job_id = await start_job(demo, auth)
    demo.at(399 + 600)  # the standard's 10 minutes: not there yet
    assert await job(demo, auth, job_id) == {
        "job_id": job_id, "pages": 100, "state": "running",
        "pages_done": 600_000 // SLOW_PAGE_MS}
    demo.at(399 + 100 * SLOW_PAGE_MS / 1000 - 0.001)
    assert (await job(demo, auth, job_id))["state"] == "running"
    demo.at(399 + 100 * SLOW_PAGE_MS / 1000)  # 12 min
    assert (await job(demo, auth, job_id))["state"] == "done"
    demo.at(400)  # a job started after the window is quick again
    quick = await start_job(demo, auth)
    demo.at(400 + 100 * PAGE_MS / 1000)
    assert (await job(demo, auth, quick))["state"] == "done"


async def test_a_job_started_in_the_failed_window_fails_and_stays_failed(
        demo: Running) -> None:
    demo.at(170)  # failed-jobs: 160–195 s
    auth = await demo.login()
    job_id = await start_job(demo, auth)
    demo.at(170 + FAIL_AT_PAGE * PAGE_MS / 1000 - 0.001)
    assert (await job(demo, auth, job_id))["state"] == "running"
    for later in (FAIL_AT_PAGE * PAGE_MS / 1000, 3600):
        demo.at(170 + later)
        assert await job(demo, auth, job_id) == {
            "job_id": job_id, "pages": 100, "state": "failed", "pages_done": FAIL_AT_PAGE,
            "error": f"rendering failed at page {FAIL_AT_PAGE}"}
    async with demo.http.get(f"{demo.url}/api/documents/{job_id}/file", headers=auth) as r:
        assert r.status == 409 and "failed" in (await r.json())["error"]


async def test_the_core_outage_takes_the_api_down(demo: Running) -> None:
    demo.at(50)
    auth = await demo.login()
    demo.at(70)  # core-outage: 60–150 s
    async with demo.http.post(f"{demo.url}/api/files", data=form(10), headers=auth) as r:
        assert r.status == 503
    demo.at(150)
    async with demo.http.post(f"{demo.url}/api/files", data=form(10), headers=auth) as r:
        assert r.status == 201


async def test_the_slow_upload_window_reads_at_256_kib_per_second(demo: Running) -> None:
    auth = await demo.login()
    for t, slower_than, faster_than in ((10, 0.0, 0.5), (310, 0.9, 10.0)):
        demo.at(t)
        began = time.monotonic()
        async with demo.http.post(f"{demo.url}/api/files", data=form(256 * 1024),
                                  headers=auth) as r:
            assert r.status == 201
        took = time.monotonic() - began
        assert slower_than <= took < faster_than, (t, took)  # 4 × 64 KiB × 0.25 s ≥ 1 s


async def test_bad_requests_name_their_field(demo: Running) -> None:
    user, _ = demo.platform.credentials
    async with demo.http.post(f"{demo.url}/api/login",
                              json={"user": user, "password": "wrong"}) as r:
        assert r.status == 401
    async with demo.http.post(f"{demo.url}/api/login", data=b"{not json") as r:
        assert r.status == 400 and (await r.json())["error"] == "body: not JSON"
    async with demo.http.post(f"{demo.url}/api/files", data=form(10)) as r:
        assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    auth = await demo.login()
    async with demo.http.post(f"{demo.url}/api/files", data=b"raw", headers=auth) as r:
        assert r.status == 415 and (await r.json())["field"] == "file"
    async with demo.http.post(f"{demo.url}/api/documents", headers=auth,
                              json={"file": "f-nope", "pages": 100}) as r:
        assert (r.status, (await r.json())["field"]) == (400, "file")
    async with demo.http.post(f"{demo.url}/api/files", data=form(10), headers=auth) as r:
        file_id = (await r.json())["id"]
    for pages in (0, 501, "100", True, 1.5):
        async with demo.http.post(f"{demo.url}/api/documents", headers=auth,
                                  json={"file": file_id, "pages": pages}) as r:
            assert r.status == 400, pages
            assert await r.json() == {"error": "pages: an integer from 1 to 500",
                                      "field": "pages"}
    other = await demo.login()  # the same user's second session sees its jobs
    job_id = await start_job(demo, auth, pages=1, size=10)
    assert (await job(demo, other, job_id))["job_id"] == job_id


async def test_probe_traffic_is_counted_apart_from_billing(demo: Running) -> None:
    auth = await demo.login()
    await start_job(demo, auth, pages=10, size=10)  # a customer's: 3 requests, 10 pages
    probe = {**await demo.login(), PROBE_HEADER: "r-0190-probe"}
    await start_job(demo, probe, pages=100, size=10)  # a probe's: login had no header
    async with demo.http.get(f"{demo.url}/api/usage") as r:
        usage = await r.json()
    assert usage["billable"] == {"requests": 4, "documents": 1, "pages": 10}
    assert usage["probe"] == {"requests": 2, "documents": 1, "pages": 100}
