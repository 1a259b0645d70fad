"""The demo platform's document-generation API, what ``kind: journey`` walks through:

====================================  ==============================================
``POST /api/login``                   ``{"user", "password"}`` → ``{"token"}`` (bearer)
``POST /api/files``                   multipart, field ``file`` → 201 ``{"id", "size"}``
``POST /api/documents``               ``{"file", "pages"}`` → 202 ``{"job_id"}``
``GET /api/jobs/{job}``               ``{"state": running|done|failed, "pages_done"}``
``GET /api/documents/{job}/file``     the generated PDF (409 until the job is done)
``DELETE /api/documents/{job}``       204: the document and its upload are gone
====================================  ==============================================

Generation runs on the platform's clock (scaled by ``--speed``): ``PAGE_MS`` a page,
so 100 pages take 60 s; a job started in the ``slow-generation`` window takes
``SLOW_PAGE_MS`` a page (100 pages: 12 min, past the standard's 10 min); a job started
in the ``failed-jobs`` window fails at page ``FAIL_AT_PAGE``.  Nothing is generated
until it is downloaded, and every table is bounded, so a demo left running for days
holds a few MB at most.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from demo.load import Usage
from demo.pdf import build_pdf

PAGE_MS = 600
SLOW_PAGE_MS = 7200
FAIL_AT_PAGE = 37
MAX_PAGES = 500
MAX_UPLOAD = 64 * 2**20
KEEP = 1000  # tokens, files and jobs each: the oldest go first
CHUNK = 64 * 1024
SLOW_CHUNK_S = 0.25  # the slow-upload fault: 64 KiB per 0.25 s ≈ 256 KiB/s


class BadRequest(Exception):
    """A 4xx with a JSON body naming the field."""

    def __init__(self, status: int, message: str, field_name: str | None = None):
        super().__init__(message)
        self.status, self.field = status, field_name


def _bounded_put(table: OrderedDict[str, Any], key: str, value: Any) -> None:
    table[key] = value
    while len(table) > KEEP:
        table.popitem(last=False)


@dataclass(frozen=True)
class Job:
    """A generation job; its state is a function of the platform clock, so nothing
    has to run in the background."""

    id: str
    user: str
    file_id: str
    pages: int
    started_t: float
    page_ms: int
    fail_at_page: int | None = None

    def view(self, t: float) -> dict[str, Any]:
        # whole milliseconds, so a job is done exactly at pages × page_ms (no float edge)
        elapsed_ms = max(0, round((t - self.started_t) * 1000))
        done = min(self.pages, elapsed_ms // self.page_ms)
        view: dict[str, Any] = {"job_id": self.id, "pages": self.pages}
        if self.fail_at_page is not None and done >= self.fail_at_page:
            return {**view, "state": "failed", "pages_done": self.fail_at_page,
                    "error": f"rendering failed at page {self.fail_at_page}"}
        return {**view, "state": "done" if done >= self.pages else "running",
                "pages_done": done}


@dataclass
class Documents:
    """The API's state and handlers.  ``now`` is the platform clock (scaled seconds);
    ``fault(name, request)`` says whether a scripted fault is active for the caller."""

    now: Callable[[], float]
    fault: Callable[[str, web.Request], bool]
    usage: Usage
    spike_s: float = 1.2
    user: str = "bid-writer"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    tokens: OrderedDict[str, str] = field(default_factory=OrderedDict)
    files: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    jobs: OrderedDict[str, Job] = field(default_factory=OrderedDict)
    # the last document built, by page count: the demo's journeys all ask for one size
    _pdf: tuple[int, bytes] | None = field(default=None, init=False, repr=False)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/login", self._guard(self.login))
        app.router.add_post("/api/files", self._guard(self.upload))
        app.router.add_post("/api/documents", self._guard(self.start))
        app.router.add_get("/api/jobs/{job}", self._guard(self.job))
        app.router.add_get("/api/documents/{job}/file", self._guard(self.download))
        app.router.add_delete("/api/documents/{job}", self._guard(self.delete))

    def _guard(self, handler: Callable[[web.Request], Any]) -> Any:
        """The core outage takes the API down with the site, the latency spike slows
        every answer; a ``BadRequest`` becomes JSON naming its field (never a
        traceback)."""
        async def guarded(request: web.Request) -> web.StreamResponse:
            if self.fault("core-outage", request):
                return web.json_response({"error": "service unavailable"}, status=503)
            if self.fault("latency-spike", request):
                await asyncio.sleep(self.spike_s)
            try:
                return await handler(request)
            except BadRequest as e:
                body = {"error": str(e), **({"field": e.field} if e.field else {})}
                headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
                return web.json_response(body, status=e.status, headers=headers)
        return guarded

    async def login(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        user, password = body.get("user"), body.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            raise BadRequest(400, "user and password: strings required", "user")
        ok = hmac.compare_digest(user.encode(), self.user.encode()) & hmac.compare_digest(
            password.encode(), self.password.encode())
        if not ok:
            raise BadRequest(401, "wrong user or password")
        token = secrets.token_urlsafe(24)
        _bounded_put(self.tokens, token, user)
        return web.json_response({"token": token, "token_type": "Bearer"})

    def _user(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        user = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if user is None:
            raise BadRequest(401, "a bearer token from POST /api/login is required")
        return user

    async def upload(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if not request.content_type.startswith("multipart/"):
            raise BadRequest(415, "content type: multipart/form-data expected", "file")
        reader = await request.multipart()
        async for part in reader:
            if getattr(part, "name", None) == "file":
                size, digest = await self._receive(part, request)
                file_id = "f-" + secrets.token_hex(6)
                _bounded_put(self.files, file_id, {"user": user, "size": size,
                                                   "name": getattr(part, "filename", None)})
                return web.json_response({"id": file_id, "size": size, "sha256": digest},
                                         status=201)
        raise BadRequest(400, "file: missing multipart field", "file")

    async def _receive(self, part: Any, request: web.Request) -> tuple[int, str]:
        """Reads (and forgets) the file, at ~256 KiB/s in the slow-upload window."""
        slow = self.fault("slow-upload", request)
        size, sha = 0, hashlib.sha256()
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise BadRequest(413, f"file: larger than {MAX_UPLOAD // 2**20} MiB", "file")
            sha.update(chunk)
            if slow:
                await asyncio.sleep(SLOW_CHUNK_S)
        return size, sha.hexdigest()

    async def start(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await _json_object(request)
        file_id, pages = body.get("file"), body.get("pages")
        if not isinstance(file_id, str) or self.files.get(file_id, {}).get("user") != user:
            raise BadRequest(400, "file: not an id this user uploaded", "file")
        if type(pages) is not int or not 1 <= pages <= MAX_PAGES:
            raise BadRequest(400, f"pages: an integer from 1 to {MAX_PAGES}", "pages")
        slow = self.fault("slow-generation", request)
        fails = self.fault("failed-jobs", request)
        job = Job("j-" + secrets.token_hex(6), user, file_id, pages, self.now(),
                  SLOW_PAGE_MS if slow else PAGE_MS,
                  min(FAIL_AT_PAGE, pages) if fails else None)
        _bounded_put(self.jobs, job.id, job)
        self.usage.document(request, pages)
        return web.json_response({"job_id": job.id, "state": "running"}, status=202,
                                 headers={"Location": f"/api/jobs/{job.id}"})

    def _job(self, request: web.Request) -> Job:
        user = self._user(request)
        job = self.jobs.get(request.match_info["job"])
        if job is None or job.user != user:
            raise BadRequest(404, "job: no such job", "job")
        return job

    async def job(self, request: web.Request) -> web.Response:
        return web.json_response(self._job(request).view(self.now()))

    async def download(self, request: web.Request) -> web.Response:
        job = self._job(request)
        state = job.view(self.now())["state"]
        if state != "done":
            raise BadRequest(409, f"job: {state}, not done", "job")
        if self._pdf is None or self._pdf[0] != job.pages:
            self._pdf = (job.pages, await asyncio.to_thread(build_pdf, job.pages))
        return web.Response(body=self._pdf[1], content_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{job.id}.pdf"'})

    async def delete(self, request: web.Request) -> web.Response:
        job = self._job(request)
        del self.jobs[job.id]
        self.files.pop(job.file_id, None)
        return web.Response(status=204)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as e:
        raise BadRequest(400, "body: not JSON") from e
    if not isinstance(body, dict):
        raise BadRequest(400, "body: a JSON object expected")
    return body
