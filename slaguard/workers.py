"""Probe worker processes.

The main process keeps the record: store writer, live state, exporters, SLO
evaluation, alerting, HTTP.  Probing runs in worker processes, each with its
own event loop and its share of the (target, location) pairs, for two reasons:
nothing the main process does (a month's evaluation, a burst of commits) can
delay the loop a probe's clock runs on, and several workers spread probing
over the cores.

One socket pair per worker carries frames (4-byte length + pickle), each a
list of the messages one side had ready in one turn of its event loop (one
pickle and one write for many, not one each):

* main → worker: ``("probe", request, target, location)`` runs one probe now;
  the end of the stream means stop.
* worker → main: ``("ready", pid)`` once its schedulers run;
  ``("result", request | None, ProbeResult)`` (a scheduled result carries no
  request); ``("failed", request, message)`` when a requested probe could not
  run at all; ``("started", location, lateness_s)`` and ``("skipped", location,
  reason)`` for slaguard's own metrics (``ProbeObserver``), told to the pool's
  observer with the worker's index.

A worker stops when its stream ends: it stops scheduling, sends what it holds
and exits, so a main process that dies takes its workers with it.  A worker
that dies is restarted; requests it had in hand fail with ``WorkerError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from probes import close_connectors
from probes.browser import close_browser
from slaguard.domain import ProbeResult
from slaguard.errors import SlaguardError
from slaguard.scheduler import ProbeObserver, ProbeScheduler

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
# A worker that keeps dying before it is ready is restarted at most this often.
RESTART_BACKOFF_MAX_S = 60.0
Submit = Callable[[ProbeResult], None]
SubmitMany = Callable[[list[ProbeResult]], None]
# Runs in the child process: (worker index, its socket, start the schedulers?).
Entry = Callable[[int, socket.socket, bool], None]


class WorkerError(SlaguardError):
    """A probe worker could not start, died, or could not run a requested probe."""


def assign(pairs: Iterable[tuple[str, str]], count: int) -> dict[tuple[str, str], int]:
    """(target, location) → worker index: round robin over the sorted pairs, so
    shares differ by at most one and every process computes the same answer."""
    return {pair: i % count for i, pair in enumerate(sorted(set(pairs)))}


# -- frames -----------------------------------------------------------------------


def write_frame(writer: asyncio.StreamWriter, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_LENGTH.pack(len(data)) + data)


async def read_frame(reader: asyncio.StreamReader) -> Any | None:
    """The next frame, or None at the end of the stream."""
    try:
        head = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise WorkerError("stream ended inside a frame header") from None
        return None
    (size,) = _LENGTH.unpack(head)
    try:
        return pickle.loads(await reader.readexactly(size))
    except asyncio.IncompleteReadError:
        raise WorkerError("stream ended inside a frame") from None


class Channel:
    """Messages to the other side, sent together once per turn of the loop."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._pending: list[tuple[Any, ...]] = []

    def send(self, *message: Any) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending.append(message)

    def flush(self) -> None:
        if self._pending and not self.writer.is_closing():
            write_frame(self.writer, self._pending)
        self._pending = []


# -- the worker's side ------------------------------------------------------------


class _FrameObserver:
    """A worker's ``ProbeObserver``: its reports travel in the frames like results."""

    def __init__(self, out: Channel) -> None:
        self.out = out

    def probe_started(self, location: str, worker: str, lateness_s: float) -> None:
        self.out.send("started", location, lateness_s)

    def probe_skipped(self, location: str, worker: str, reason: str) -> None:
        self.out.send("skipped", location, reason)


MakeSchedulers = Callable[[Submit, ProbeObserver], list[ProbeScheduler]]


async def serve(sock: socket.socket, make_schedulers: MakeSchedulers, schedule: bool) -> None:
    """A worker's life: schedule its share, run requested probes, send results;
    return once the main process ends the stream and everything is sent."""
    reader, writer = await asyncio.open_connection(sock=sock)
    out = Channel(writer)
    schedulers = {s.location: s for s in make_schedulers(
        lambda result: out.send("result", None, result), _FrameObserver(out))}
    # A new or restarted worker does its one-time set-up before it says it is
    # ready, so its first probes are timed like every later one.
    for s in schedulers.values():
        await s.warm_up()
    if schedule:
        for s in schedulers.values():
            s.start()
    out.send("ready", os.getpid())
    requested: set[asyncio.Task[None]] = set()
    try:
        # A reset: the main process died (kill -9); this worker stops without a traceback.
        with contextlib.suppress(ConnectionError):
            while (frame := await read_frame(reader)) is not None:
                for _op, request, target, location in frame:
                    task = asyncio.create_task(
                        _requested(schedulers, target, location, request, out))
                    requested.add(task)
                    task.add_done_callback(requested.discard)
    finally:
        for s in schedulers.values():
            s.shutdown()
        await asyncio.gather(*requested, return_exceptions=True)
        out.flush()
        for s in schedulers.values():
            await close_connectors(s.ctx)
            await close_browser(s.ctx)  # no Chromium outlives its worker
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _requested(schedulers: dict[str, ProbeScheduler], target: str, location: str,
                     request: int, out: Channel) -> None:
    sched = schedulers.get(location)
    if sched is None or target not in sched.targets:
        out.send("failed", request, f"this worker does not probe {target!r} from {location!r}")
        return
    out.send("result", request, await sched.probe_now(target))


# -- the main process's side -------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    index: int
    process: BaseProcess
    channel: Channel
    ready: asyncio.Future[int]
    reading: asyncio.Task[None] | None = None
    requests: set[int] = field(default_factory=set)


class PoolObserver(ProbeObserver, Protocol):
    """A ``ProbeObserver`` also told when a worker restarts."""

    def worker_restarted(self, worker: str) -> None: ...


class WorkerPool:
    """Starts, feeds, restarts and stops the probe worker processes; every result
    they send goes to ``submit`` (the result pipeline)."""

    def __init__(self, count: int, entry: Entry, submit: SubmitMany,
                 owner: Callable[[str, str], int], *, start_timeout_s: float = 60.0,
                 restart_after_s: float = 1.0, observer: PoolObserver | None = None) -> None:
        self.count = count
        self.entry = entry
        self.submit = submit
        self.owner = owner
        self.start_timeout_s = start_timeout_s
        self.restart_after_s = restart_after_s
        self.observer = observer
        # spawn, not fork: the main process has threads (the store writer) by now.
        self._mp = multiprocessing.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._futures: dict[int, asyncio.Future[ProbeResult]] = {}
        self._ids = itertools.count(1)
        self._schedule = False
        self._stopping = False
        self.restarts = 0

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers.values() if w.process.pid is not None]

    @property
    def running(self) -> int:
        """Workers that are ready and alive now."""
        return sum(1 for w in self._workers.values()
                   if w.ready.done() and not w.ready.cancelled() and w.ready.exception() is None
                   and w.process.is_alive())

    async def start(self, schedule: bool) -> None:
        """Start every worker; raises ``WorkerError`` if one cannot get ready."""
        self._schedule = schedule
        try:
            await asyncio.gather(*(self._spawn(i) for i in range(self.count)))
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, index: int) -> None:
        parent, child = socket.socketpair()
        process = self._mp.Process(target=self.entry, args=(index, child, self._schedule),
                                   name=f"slaguard-probes-{index}", daemon=True)
        await asyncio.to_thread(process.start)
        child.close()
        reader, writer = await asyncio.open_connection(sock=parent)
        worker = _Worker(index, process, Channel(writer),
                         asyncio.get_running_loop().create_future())
        self._workers[index] = worker
        worker.reading = asyncio.create_task(self._read(worker, reader),
                                             name=f"probe-worker-{index}")
        try:
            pid = await asyncio.wait_for(asyncio.shield(worker.ready), self.start_timeout_s)
        except TimeoutError:
            raise WorkerError(f"probe worker {index} not ready after "
                              f"{self.start_timeout_s:g} s") from None
        log.info("probe worker %d running (pid %d)", index, pid)

    async def run_once(self, target: str, location: str) -> ProbeResult:
        """Run one probe now in the worker that owns (target, location); its result
        also goes to ``submit`` like every other."""
        worker = self._workers.get(self.owner(target, location))
        if worker is None or self._stopping:
            raise WorkerError("probe workers are not running")
        request = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._futures[request] = future
        worker.requests.add(request)
        worker.channel.send("probe", request, target, location)
        try:
            return await future
        finally:
            self._futures.pop(request, None)
            worker.requests.discard(request)

    async def _read(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        try:
            while (frame := await read_frame(reader)) is not None:
                self._on_frame(worker, frame)
        except (WorkerError, ConnectionError) as e:
            log.error("probe worker %d: %s", worker.index, e)
        await self._ended(worker)

    def _on_frame(self, worker: _Worker, frame: list[tuple[Any, ...]]) -> None:
        results = []
        for message in frame:
            if message[0] == "result":
                _op, request, result = message
                results.append(result)
                self._resolve(request, result)
            elif message[0] == "failed":
                self._resolve(message[1], WorkerError(message[2]))
            elif message[0] == "ready":
                worker.ready.set_result(message[1])
            elif self.observer is None:
                continue
            elif message[0] == "started":
                self.observer.probe_started(message[1], str(worker.index), message[2])
            elif message[0] == "skipped":
                self.observer.probe_skipped(message[1], str(worker.index), message[2])
        self.submit(results)

    def _resolve(self, request: int | None, outcome: ProbeResult | Exception) -> None:
        future = self._futures.get(request) if request is not None else None
        if future is None or future.done():
            return
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    async def _ended(self, worker: _Worker) -> None:
        worker.channel.writer.close()
        code = await asyncio.to_thread(_join, worker.process, 10.0)
        for request in list(worker.requests):
            self._resolve(request, WorkerError(f"probe worker {worker.index} exited"))
        if not worker.ready.done():
            worker.ready.set_exception(WorkerError(
                f"probe worker {worker.index} exited with code {code} before it was ready "
                "(its log is above)"))
            return
        if self._stopping:
            return
        # Its share of the targets goes unprobed until it is back: that is a
        # probe-side gap, and the scheduler's own gap accounting shows it.
        await self._restart(worker.index, code)

    async def _restart(self, index: int, code: int | None) -> None:
        """Restart worker ``index`` until one gets ready, backing off while they die
        before that (a crash loop: slaguard_worker_restarts_total counts every try)."""
        delay = self.restart_after_s
        log.error("probe worker %d exited with code %s; restarting it in %g s",
                  index, code, delay)
        while True:
            await asyncio.sleep(delay)
            if self._stopping:
                return
            self.restarts += 1
            if self.observer is not None:
                self.observer.worker_restarted(str(index))
            try:
                await self._spawn(index)
                return
            except WorkerError as e:
                failed = self._workers.get(index)
                if failed is not None:  # not ready in time: it must not linger beside the next
                    await asyncio.to_thread(_join, failed.process, 0.0)
                delay = min(2 * delay, RESTART_BACKOFF_MAX_S)
                log.error("%s; restarting it in %g s", e, delay)

    async def stop(self, timeout_s: float = 30.0) -> None:
        """End every worker's stream and wait until each has sent what it holds."""
        self._stopping = True
        workers = list(self._workers.values())
        for w in workers:
            w.channel.flush()
            if not w.channel.writer.is_closing():
                with contextlib.suppress(OSError, RuntimeError):
                    w.channel.writer.write_eof()
        readers = {w.reading: w for w in workers if w.reading is not None}
        if readers:
            _done, late = await asyncio.wait(readers, timeout=timeout_s)
            for task in late:  # a reader that finished has joined its process (_ended)
                task.cancel()
                await asyncio.to_thread(_join, readers[task].process, 5.0)
        self._workers.clear()


def _join(process: BaseProcess, timeout_s: float) -> int | None:
    """Wait for the process to exit (terminate it when it will not); its exit code."""
    if process.pid is None:
        return None
    process.join(timeout_s)
    if process.is_alive():
        process.terminate()
        process.join(timeout_s)
    return process.exitcode

