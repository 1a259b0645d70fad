"""The cold client on the wire: the requests it writes (byte for byte what
aiohttp's session writes for the same call), the responses it reads, the
redirects it follows and the failures it names, against a scripted TCP server
that records every request."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from probes import close_connectors, http, upload
from probes._cold import MAX_REDIRECTS, ColdClient
from probes._common import ssl_for
from probes._timing import TraceFacts
from probes.base import ProbeContext
from slaguard.domain import ErrorClass, Outcome, ProbeResult
from tests.probes.conftest import make_target


@dataclass
class Seen:
    """One request as the server read it."""

    line: str
    headers: list[tuple[str, str]]
    body: bytes
    peer: str

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


@dataclass
class Scripted:
    """Answers by path from ``replies`` (404 otherwise); ``early`` paths answer
    as soon as the head is in and then drain the body unread; ``stalled``
    paths read nothing and answer nothing until the test ends."""

    replies: dict[str, bytes] = field(default_factory=dict)
    early: set[str] = field(default_factory=set)
    duplex: set[str] = field(default_factory=set)  # head first, then read, then the body
    stalled: set[str] = field(default_factory=set)  # never read, never answered
    released: asyncio.Event = field(default_factory=asyncio.Event)  # ends the stalls
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, *fields = head[:-4].split("\r\n")
            headers = [(k, v.strip()) for k, _, v in (f.partition(":") for f in fields)]
            path = line.split()[1]
            if path in self.stalled:
                await self.released.wait()
                return
            if path in self.duplex:
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                await writer.drain()
                length = next(int(v) for k, v in headers if k.lower() == "content-length")
                writer.write(b"received %d" % len(await reader.readexactly(length)))
                return
            if path in self.early:
                writer.write(self.replies[path])
                await writer.drain()
                while await reader.read(1 << 16):
                    pass
                return
            length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
            body = await reader.readexactly(length)
            self.seen.append(Seen(line, headers, body, writer.get_extra_info("peername")[0]))
            answer = self.replies.get(path, reply(404, b"no such path"))
            if line.startswith("HEAD "):
                answer = answer[:answer.index(b"\r\n\r\n") + 4]
            writer.write(answer)
            await writer.drain()
        finally:
            writer.close()


def reply(status: int, body: bytes = b"", *headers: str, reason: str = "X") -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    scripted = Scripted()
    srv = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    scripted.port = int(srv.sockets[0].getsockname()[1])
    yield scripted
    scripted.released.set()
    srv.close()
    await srv.wait_closed()


@pytest.fixture
async def cold() -> AsyncIterator[ProbeContext]:
    context = ProbeContext("test-lab", options={"trace_sink": []})
    yield context
    await close_connectors(context)


async def probe(ctx: ProbeContext, url: str, **fields: object) -> ProbeResult:
    return await http.run(make_target("http", url, **fields), ctx)  # type: ignore[arg-type]


def facts(ctx: ProbeContext) -> TraceFacts:
    sink: list[TraceFacts] = ctx.options["trace_sink"]
    return sink[-1]


# -- requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body", "headers"),
    [
        ("GET", None, {}),
        ("GET", None, {"User-Agent": "slaguard-test", "accept": "text/html", "X-A": "1"}),
        ("HEAD", None, {}),
        ("POST", None, {}),
        ("POST", '{"q": "标书"}', {"Content-Type": "application/json"}),
        ("PUT", "plain text", {}),
        ("DELETE", None, {"Authorization": "Bearer t"}),
        ("OPTIONS", None, {}),
    ],
)
async def test_requests_are_what_aiohttp_writes(
    server: Scripted, cold: ProbeContext, method: str, body: str | None,
    headers: dict[str, str],
) -> None:
    server.replies["/p?q=1"] = reply(200, b"ok")
    r = await probe(cold, server.url("/p?q=1"), method=method, body=body, headers=headers)
    assert r.outcome is Outcome.SUCCESS, r.error
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.request(method, server.url("/p?q=1"), data=body, headers=headers) as resp,
    ):
        await resp.read()
    ours, theirs = server.seen
    assert ours.line == theirs.line == f"{method} /p?q=1 HTTP/1.1"
    assert sorted(ours.headers) == sorted(theirs.headers)  # same names, values, repeats
    assert ours.body == theirs.body == (body or "").encode()
    assert ours.header("Connection") == "close"


async def test_upload_body_is_what_aiohttp_writes(server: Scripted, cold: ProbeContext) -> None:
    server.replies["/up"] = reply(200, b"stored")
    target = make_target("upload", server.url("/up"), size="100KiB")
    r = await upload.run(target, cold)  # type: ignore[arg-type]
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.bytes == 100 * 1024
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.post(server.url("/up"), data=upload.request_body(
            target, upload.GeneratedPayload(100 * 1024))) as resp,  # type: ignore[arg-type]
    ):
        await resp.read()
    ours, theirs = server.seen

    def unbounded(seen: Seen) -> list[tuple[str, str]]:  # multipart boundaries are random
        return sorted((k, v.split("; boundary=")[0]) for k, v in seen.headers)

    assert unbounded(ours) == unbounded(theirs)
    assert ours.header("Content-Length") == theirs.header("Content-Length")
    assert len(ours.body) == len(theirs.body) > 100 * 1024


@pytest.mark.parametrize("value", ["1\r\nX-Injected: 1", "a\x00b", "\x1b[31m"])
async def test_control_characters_in_a_header_are_refused(
    server: Scripted, cold: ProbeContext, value: str
) -> None:
    r = await probe(cold, server.url("/"), headers={"X-A": value})
    assert r.outcome is Outcome.UNKNOWN and r.error is not None
    assert r.error.message == "header 'X-A' contains a control character"
    assert server.seen == []


async def test_user_and_password_in_the_url_are_sent_as_aiohttp_sends_them(
    server: Scripted, cold: ProbeContext
) -> None:
    url = f"http://probe:s%40cret@127.0.0.1:{server.port}/"
    server.replies["/"] = reply(200, b"ok")
    r = await probe(cold, url)
    assert r.outcome is Outcome.SUCCESS, r.error
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        await resp.read()
    ours, theirs = server.seen
    assert ours.header("Authorization") == theirs.header("Authorization") == \
        "Basic cHJvYmU6c0BjcmV0"  # probe:s@cret


# -- responses -----------------------------------------------------------------------


async def test_informational_responses_are_skipped(server: Scripted, cold: ProbeContext) -> None:
    server.replies["/"] = (b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                           + reply(200, b"final", "X-Final: yes"))
    r = await probe(cold, server.url("/"), expect={"headers": {"X-Final": "yes"}})
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.status_code == 200 and r.bytes == 5


async def test_chunked_gzip_body_is_decoded(server: Scripted, cold: ProbeContext) -> None:
    text = "招标文件 tender document " * 200
    packed = gzip.compress(text.encode())
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c)
                       for c in (packed[:40], packed[40:])) + b"0\r\n\r\n"
    server.replies["/"] = reply(200, chunked, "Transfer-Encoding: chunked",
                                "Content-Encoding: gzip",
                                "Content-Type: text/plain; charset=utf-8")
    r = await probe(cold, server.url("/"), expect={"body_contains": "招标文件"})
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.bytes == len(text.encode())  # decoded bytes, as aiohttp counts them


async def test_body_delimited_by_close_is_read_to_the_end(
    server: Scripted, cold: ProbeContext
) -> None:
    server.replies["/"] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 70000
    r = await probe(cold, server.url("/"))
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.bytes == 70000


async def test_head_has_no_body_to_read(server: Scripted, cold: ProbeContext) -> None:
    server.replies["/"] = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    r = await probe(cold, server.url("/"), method="HEAD")
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.bytes == 0


async def test_charset_of_the_response_decodes_the_body(
    server: Scripted, cold: ProbeContext
) -> None:
    server.replies["/"] = reply(200, "投标".encode("gb18030"),
                                "Content-Type: text/html; charset=gb18030")
    r = await probe(cold, server.url("/"), expect={"body_contains": "投标"})
    assert r.outcome is Outcome.SUCCESS, r.error


@pytest.mark.parametrize(
    ("answer", "cls", "message"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", ErrorClass.HTTP_STATUS, "malformed response: "),
        (b"", ErrorClass.CONNECT, "ServerDisconnectedError"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123", ErrorClass.CONNECT,
         "ClientPayloadError"),
    ],
)
async def test_broken_responses_are_classified(
    server: Scripted, cold: ProbeContext, answer: bytes, cls: ErrorClass, message: str
) -> None:
    server.replies["/"] = answer
    r = await probe(cold, server.url("/"))
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is cls
    assert r.error.message.startswith(message), r.error.message


async def test_upload_answered_before_its_body_is_read(
    server: Scripted, cold: ProbeContext
) -> None:
    # A server may refuse an upload (413) as soon as it has the head: the probe
    # stops sending and reports the status, it does not wait for a write that
    # will never be read.
    server.replies["/up"] = reply(413, b"too large")
    server.early.add("/up")
    target = make_target("upload", server.url("/up"), mode="put", size="64MiB", timeout="5s")
    r = await upload.run(target, cold)  # type: ignore[arg-type]
    assert r.error is not None and r.error.cls is ErrorClass.HTTP_STATUS, r.error
    assert r.status_code == 413
    assert r.bytes is not None and r.bytes < 64 * 2**20


async def test_deadline_stops_an_upload_that_is_never_read(
    server: Scripted, cold: ProbeContext
) -> None:
    server.stalled.add("/up")
    target = make_target("upload", server.url("/up"), mode="put", size="64MiB",
                         timeout="300ms", interval="30s")
    r = await upload.run(target, cold)  # type: ignore[arg-type]
    assert r.error is not None and r.error.cls is ErrorClass.TIMEOUT, r.error
    assert r.error.message == "no complete response within 0.3s"
    assert 300 <= r.duration_ms < 600
    assert r.bytes is not None and 0 < r.bytes < 64 * 2**20  # the kernel's buffers took some


async def test_upload_answered_before_it_is_read_is_still_sent_whole(
    server: Scripted, cold: ProbeContext
) -> None:
    # Some servers send the response head first and read the body after: the
    # body keeps going until the response is complete.
    server.duplex.add("/up")
    target = make_target("upload", server.url("/up"), mode="put", size="8MiB",
                         expect={"body_contains": f"received {8 * 2**20}"})
    r = await upload.run(target, cold)  # type: ignore[arg-type]
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.bytes == 8 * 2**20


async def test_a_failing_body_fails_the_probe_at_once(server: Scripted, cold: ProbeContext) -> None:
    class Broken(upload.GeneratedPayload):
        async def write_with_length(self, writer: object, content_length: int | None) -> None:
            raise ValueError("generator broke")

    server.stalled.add("/up")
    client = ColdClient()
    with pytest.raises(ValueError, match="generator broke"):
        async with asyncio.timeout(2), client.request(
            "PUT", server.url("/up"), headers={}, data=Broken(1024), ssl=ssl_for(
                make_target("http", server.url("/")), cold)):
            pass
    await client.close()


# -- redirects ---------------------------------------------------------------------------


async def test_see_other_after_post_becomes_a_get(server: Scripted, cold: ProbeContext) -> None:
    server.replies["/form"] = reply(303, b"", "Location: /done")
    server.replies["/done"] = reply(200, b"thanks")
    r = await probe(cold, server.url("/form"), method="POST", body="a=1")
    assert r.outcome is Outcome.SUCCESS, r.error
    post, get = server.seen
    assert post.line.startswith("POST /form") and post.body == b"a=1"
    assert get.line == "GET /done HTTP/1.1" and get.body == b""
    assert get.header("Content-Length") is None and get.header("Content-Type") is None
    assert facts(cold).redirects == 1 and facts(cold).new_connections == 2


async def test_temporary_redirect_keeps_method_and_body(
    server: Scripted, cold: ProbeContext
) -> None:
    server.replies["/a/b"] = reply(307, b"", "Location: ../c?x=1#frag")
    server.replies["/c?x=1"] = reply(308, b"", "Location: http:d")  # as browsers read it
    server.replies["/d"] = reply(200, b"ok")
    r = await probe(cold, server.url("/a/b"), method="PUT", body="payload")
    assert r.outcome is Outcome.SUCCESS, r.error
    assert [(s.line, s.body) for s in server.seen] == [
        ("PUT /a/b HTTP/1.1", b"payload"), ("PUT /c?x=1 HTTP/1.1", b"payload"),
        ("PUT /d HTTP/1.1", b"payload")]


async def test_credentials_stay_with_their_origin(server: Scripted, cold: ProbeContext) -> None:
    server.replies["/here"] = reply(302, b"", f"Location: {server.url('/there', 'localhost')}")
    server.replies["/there"] = reply(200, b"ok")
    headers = {"Authorization": "Bearer secret", "Cookie": "s=1", "X-Trace": "t"}
    r = await probe(cold, server.url("/here"), headers=headers)
    assert r.outcome is Outcome.SUCCESS, r.error
    first, second = server.seen
    assert first.header("Authorization") == "Bearer secret"
    assert second.header("Authorization") is None and second.header("Cookie") is None
    assert second.header("X-Trace") == "t"
    assert second.header("Host") == f"localhost:{server.port}"
    assert facts(cold).hosts == ["localhost"]  # resolved on the second hop only


async def test_redirect_without_location_is_judged_on_its_status(
    server: Scripted, cold: ProbeContext
) -> None:
    server.replies["/"] = reply(302, b"moved, but where?")
    r = await probe(cold, server.url("/"))
    assert r.error is not None and r.error.message == "status 302, expected 2xx"


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("ftp://files.example/x", "redirect to a non-HTTP location 'ftp://files.example/x'"),
        ("http:///nohost", "redirect to a location without a host 'http:///nohost'"),
        ("/loop", f"stopped after {MAX_REDIRECTS} redirects"),
    ],
)
async def test_redirects_that_cannot_be_followed(
    server: Scripted, cold: ProbeContext, location: str, message: str
) -> None:
    server.replies["/loop"] = reply(301, b"", f"Location: {location}")
    r = await probe(cold, server.url("/loop"))
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.HTTP_STATUS
    assert r.error.message == message
    if location == "/loop":
        assert len(server.seen) == MAX_REDIRECTS  # the tenth redirect is refused, as aiohttp does


# -- connections -----------------------------------------------------------------------


async def test_connections_come_from_the_local_address(server: Scripted) -> None:
    # The demo's simulated locations probe from 127.0.0.2-4.
    ctx = ProbeContext("test-lab", options={"local_addr": ("127.0.0.3", 0)})
    server.replies["/"] = reply(200, b"ok")
    try:
        r = await probe(ctx, server.url("/"))
    finally:
        await close_connectors(ctx)
    assert r.outcome is Outcome.SUCCESS, r.error
    assert server.seen[0].peer == "127.0.0.3"


async def test_resolver_failure_is_dns(server: Scripted) -> None:
    class Failing(aiohttp.abc.AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[
                aiohttp.abc.ResolveResult]:
            raise OSError(-2, "Name or service not known")

        async def close(self) -> None:
            pass

    ctx = ProbeContext("test-lab", options={"resolver": Failing()})
    r = await probe(ctx, server.url("/", host="api.example"))
    await close_connectors(ctx)
    assert r.error is not None and r.error.cls is ErrorClass.DNS
    assert r.error.message == "cannot resolve api.example: [Errno -2] Name or service not known"
    assert list(r.phases_ms) == ["resolve"]
