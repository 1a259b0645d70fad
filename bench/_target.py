"""The benchmark's target server, run as its own process by probe_throughput.py.

    python bench/_target.py [--host 127.0.0.1] [--port 0] [--delay-ms 20]

Endpoints:

``GET /``        200 ``ok`` at once (the throughput endpoint)
``GET /delay``   200 ``ok`` after ``--delay-ms`` (the timing-error endpoint);
                 ``?by=TAG`` files the request's handler time under TAG
``GET /stats``   JSON: how long the /delay handler really took (the server's own
                 overshoot of the nominal delay), overall and by tag with every
                 sample; ``?reset=1`` clears the samples after reading them

A minimal HTTP/1.1 server on an asyncio protocol (slaguard's event loop: uvloop): it
reads one request per connection and answers with ``Connection: close``, which
is all a cold probe asks of it.  It is kept this small on purpose: the target
shares the machine's two cores with the engine under test, and every
microsecond it spends per request is taken from whichever engine is running
(a real target is remote and costs the prober nothing).  It costs about a
third of what an aiohttp server does per request.

Binds a loopback port (0: a free one, chosen by the kernel, so there is no
race) and prints ``PORT <n>`` on stdout once it accepts connections.  Exits
cleanly on SIGTERM and SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from slaguard import eventloop  # noqa: E402

MAX_HEAD = 16 * 1024


def response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8"
             ) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


OK = response("200 OK", b"ok")
BAD = response("400 Bad Request", b"bad request")
NOT_FOUND = response("404 Not Found", b"not found")


class Stats:
    """Time the /delay handler really took, in µs, by the ``?by=`` tag of the
    request (each engine tags its probes, so each one's overshoot is known)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.samples_us: dict[str, list[int]] = {}

    def add(self, tag: str, us: int) -> None:
        self.samples_us.setdefault(tag, []).append(us)

    def document(self, reset: bool) -> bytes:
        every = [us for samples in self.samples_us.values() for us in samples]
        doc: dict[str, object] = {"delay_ms": self.delay_s * 1000, **summary(every),
                                  "by": {tag: {**summary(samples), "samples_us": samples}
                                         for tag, samples in self.samples_us.items()}}
        if reset:
            self.samples_us = {}
        return json.dumps(doc).encode()


def summary(samples_us: list[int]) -> dict[str, object]:
    doc: dict[str, object] = {"count": len(samples_us)}
    if samples_us:
        ordered = sorted(samples_us)
        doc["handler_median_ms"] = statistics.median(ordered) / 1000
        doc["handler_p99_ms"] = ordered[min(len(ordered) - 1,
                                            -(-99 * len(ordered) // 100) - 1)] / 1000
    return doc


class Handler(asyncio.Protocol):
    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buf = b""
        self.transport: asyncio.WriteTransport | None = None
        self.answered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP transport

    def data_received(self, data: bytes) -> None:
        if self.answered:
            return
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self.answer(BAD)
            return
        self.answered = True
        parts = self.buf[:self.buf.find(b"\r\n")].split()
        if len(parts) != 3 or parts[0] not in (b"GET", b"HEAD"):
            self.answer(BAD)
            return
        url = urlsplit(parts[1].decode("latin-1"))
        if url.path == "/":
            self.answer(OK)
        elif url.path == "/delay":
            t0 = time.perf_counter_ns()
            tag = parse_qs(url.query).get("by", [""])[0]
            asyncio.get_running_loop().call_later(self.stats.delay_s, self.delayed, t0, tag)
        elif url.path == "/stats":
            reset = bool(parse_qs(url.query).get("reset"))
            self.answer(response("200 OK", self.stats.document(reset), "application/json"))
        else:
            self.answer(NOT_FOUND)

    def delayed(self, t0: int, tag: str) -> None:
        self.stats.add(tag, (time.perf_counter_ns() - t0) // 1000)
        self.answer(OK)

    def answer(self, payload: bytes) -> None:
        self.answered = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)
            self.transport.close()  # after the buffered response is written


async def serve(host: str, port: int, delay_s: float) -> None:
    stats = Stats(delay_s)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(stats), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay-ms", type=float, default=20.0)
    args = p.parse_args(argv)
    eventloop.run(serve(args.host, args.port, args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
