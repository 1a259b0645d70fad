"""Probe throughput and timing error: slaguard's probe engine beside blackbox_exporter.

    .venv/bin/python bench/probe_throughput.py [--concurrency 32] [--duration 10]
        [--timing-probes 200] [--first-probes 20] [--rounds 1] [--quick] [--profile FILE]
        [--keep-tmp]

One run, one JSON document on stdout (progress goes to stderr); bench/README.md
explains every figure and the caveats.

1. A target server (bench/_target.py, minimal HTTP) starts in its own process on a
   free loopback port: ``/`` answers 200 "ok" at once, ``/delay`` after 20 ms.
2. blackbox_exporter (Debian's binary) starts with its own config (module
   ``http_2xx``, ``preferred_ip_protocol: ip4``) on a free loopback port.  An
   aiohttp client session (keep-alive to the exporter, as Prometheus keeps it)
   drives ``/probe?module=http_2xx&target=...``.  The driver's own cost is
   measured first, against the exporter's ``/metrics`` and ``/-/healthy``,
   which run no probe.
3. slaguard's engine is wired as ``slaguard.app.App`` wires it: config parsed
   by the loader, ``--workers`` probe worker processes (``App.run_once`` hands
   each probe to the worker that owns the target, which runs it behind its
   semaphore), results back to the main process, through ``ResultPipeline``
   into the SQLite store and then ``LiveState`` (which ``/metrics`` reads); one
   target per concurrency slot, since a target never overlaps itself in the app
   either.
4. Throughput: for each engine, one after the other (``--rounds`` > 1:
   alternated ABBA), a warm-up and then ``--duration`` seconds of probes of
   ``/`` at ``--concurrency``.  For slaguard, the rows the store committed,
   the results LiveState counted and the ``slaguard_probe_results_total``
   the Prometheus registry exposes are counted and reported beside the probes.
5. Timing error: ``--timing-probes`` sequential probes of ``/delay`` per
   engine, the engines taking turns probe by probe; error =
   ``probe_duration_seconds`` − 20 ms for both (blackbox's ``/probe``
   response; slaguard's ``result.duration_us``, which its ``/metrics`` exports
   as ``probe_duration_seconds``).
6. First probe: ``--first-probes`` fresh processes per engine, each timing one
   probe of ``/delay`` — ``slaguard probe`` (a new Python process: it warms up,
   then probes) and a new blackbox_exporter (its first ``/probe`` once
   ``/-/healthy`` answers) — each followed by a warm probe of the running
   engine, so first and warm probes see the machine in the same state; goal:
   the first probes' median within 1 ms of the warm median.

Both engines make cold probes: blackbox disables keep-alive and builds a new
client per probe; slaguard's http targets default to ``connection: cold``
(a new connection per probe, no keep-alive, no DNS cache).  The target URL is an IP
literal, so neither resolves a name.

Every child process is stopped on exit, on Ctrl-C and on SIGTERM, and asked
to die with the benchmark (PR_SET_PDEATHSIG) if it is killed outright.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from prometheus_client import generate_latest  # noqa: E402

from slaguard import eventloop  # noqa: E402
from slaguard.app import App  # noqa: E402
from slaguard.config.loader import parse_config  # noqa: E402
from slaguard.domain import Outcome  # noqa: E402

BLACKBOX = os.environ.get("BLACKBOX_EXPORTER", "/usr/bin/prometheus-blackbox-exporter")
TARGET_SCRIPT = Path(__file__).resolve().with_name("_target.py")
DELAY_MS = 20
PROBE_TIMEOUT_S = 5

BLACKBOX_CONFIG = f"""\
modules:
  http_2xx:
    prober: http
    timeout: {PROBE_TIMEOUT_S}s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: []   # 2xx
"""

FIRST_PROBE_NOTE = {
    "slaguard": "a new `slaguard probe` process per sample (Python start-up, config, warm-up, "
                "then the one probe): its result's duration_us; warm = the next probe of "
                "the running App (result.duration_us)",
    "blackbox": "a new blackbox_exporter process per sample: probe_duration_seconds of its "
                "first /probe once /-/healthy answers; warm = the next /probe of the running "
                "exporter",
}

DRIVER_NOTE = (
    "blackbox figures include the driver's own cost (this process's aiohttp client: one "
    "keep-alive HTTP request to the exporter and reading its text response per probe), as "
    "they would for any scraper. blackbox.driver gives the driver's rate against the "
    "exporter's endpoints that run no probe (/metrics, which costs the exporter real work, "
    "and /-/healthy), and its measured CPU per probe and share of all CPU used in the "
    "blackbox probe window."
)


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -- statistics -----------------------------------------------------------------


def nearest_rank(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-int(pct * len(ordered)) // 100))  # ceil(pct/100 × n)
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "median": round(statistics.median(values), 3),
        "p99": round(nearest_rank(values, 99), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.fmean(values), 3),
    }


# -- child processes -------------------------------------------------------------


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the benchmark dies (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(stat_path: str) -> tuple[float, float]:
    """(user, system) CPU seconds of a process or thread, from its /proc stat file."""
    try:
        stat = Path(stat_path).read_text()
    except OSError:
        return (float("nan"), float("nan"))
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK  # utime, stime


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def cpu(self) -> tuple[float, float]:
        """(user, system) CPU seconds so far, all threads."""
        return proc_cpu(f"/proc/{self.proc.pid}/stat")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


@dataclass
class Children:
    """Every process the benchmark started; stop_all() runs on any exit."""

    tmp: Path
    items: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], stdout_pipe: bool = False) -> Child:
        log_path = self.tmp / f"{name}.log"
        with log_path.open("wb") as err:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else err, stderr=err,
                start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
                preexec_fn=_die_with_parent,
            )
        child = Child(name, proc, log_path)
        self.items.append(child)
        return child

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self.items:
            self.items.remove(child)

    def stop_all(self) -> None:
        while self.items:
            self.items.pop().stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_target(children: Children) -> tuple[Child, int]:
    child = children.start(
        "target", [sys.executable, str(TARGET_SCRIPT), "--host", "127.0.0.1", "--port", "0",
                   "--delay-ms", str(DELAY_MS)], stdout_pipe=True)
    assert child.proc.stdout is not None
    line = child.proc.stdout.readline().decode().strip()  # "PORT n" once it accepts
    if not line.startswith("PORT "):
        children.stop(child)
        raise RuntimeError(f"target server did not start: {line!r}\n{child.log_tail()}")
    return child, int(line.split()[1])


async def wait_http(session: aiohttp.ClientSession, url: str, child: Child,
                    timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            return False
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
            async with session.get(url) as resp:
                await resp.read()
                if resp.status == 200:
                    return True
        await asyncio.sleep(0.05)
    return False


async def start_blackbox(children: Children, session: aiohttp.ClientSession
                         ) -> tuple[Child, str]:
    conf = children.tmp / "blackbox.yml"
    conf.write_text(BLACKBOX_CONFIG, encoding="utf-8")
    for _attempt in range(5):  # free_port() can race with another process
        port = free_port()
        child = children.start("blackbox", [
            BLACKBOX, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ])
        base = f"http://127.0.0.1:{port}"
        if await wait_http(session, f"{base}/-/healthy", child):
            return child, base
        tail = child.log_tail()
        children.stop(child)
        if "address already in use" not in tail:
            raise RuntimeError(f"blackbox_exporter did not start:\n{tail}")
    raise RuntimeError("blackbox_exporter: no free port after 5 attempts")


def blackbox_version() -> str:
    try:
        out = subprocess.run([BLACKBOX, "--version"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


# -- load generation --------------------------------------------------------------


@dataclass
class Window:
    completed: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "probes": self.completed,
            "successful": self.ok,
            "failed": self.completed - self.ok,
            "errors": dict(sorted(self.errors.items())),
            "elapsed_s": round(self.elapsed_s, 3),
            "per_s": round(self.completed / self.elapsed_s, 1) if self.elapsed_s else 0.0,
        }


# An operation returns None on success or a short error label.
Op = Callable[[int], Awaitable[str | None]]


async def closed_loop(op: Op, concurrency: int, duration_s: float) -> Window:
    """``concurrency`` workers, each issuing ``op(worker)`` back to back until the
    window closes; the window's elapsed time includes the last in-flight ops."""
    w = Window()
    t0 = time.perf_counter()
    deadline = t0 + duration_s

    async def worker(i: int) -> None:
        while time.perf_counter() < deadline:
            try:
                err = await op(i)
            except Exception as e:  # the driver's own failure, counted, never fatal
                err = f"driver: {type(e).__name__}"
            w.completed += 1
            if err is None:
                w.ok += 1
            else:
                w.errors[err] = w.errors.get(err, 0) + 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    w.elapsed_s = time.perf_counter() - t0
    return w


CpuSource = Callable[[], tuple[float, float]]


def own_cpu() -> tuple[float, float]:
    t = os.times()
    return t.user, t.system


def pid_cpu(pid: int) -> tuple[float, float]:
    try:
        return proc_cpu(f"/proc/{pid}/stat")
    except OSError:  # exited
        return 0.0, 0.0


def add_cpu(*parts: tuple[float, float]) -> tuple[float, float]:
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def loop_name() -> str:
    loop = eventloop.new_event_loop()
    try:
        return f"{type(loop).__module__}.{type(loop).__name__}"
    finally:
        loop.close()


def thread_cpu(prefix: str) -> CpuSource:
    """CPU of this process's thread whose name starts with ``prefix`` (0 if none)."""

    def read() -> tuple[float, float]:
        for t in threading.enumerate():
            if t.name.startswith(prefix) and t.native_id is not None:
                return proc_cpu(f"/proc/self/task/{t.native_id}/stat")
        return 0.0, 0.0

    return read


class CpuMeter:
    """User and system CPU seconds spent during a window by this process (the
    engine, or the blackbox driver; its threads included) and by each child,
    and by the whole machine (to show what else was running)."""

    def __init__(self, sources: dict[str, CpuSource],
                 parts: dict[str, CpuSource] | None = None) -> None:
        self.sources = sources  # disjoint: they add up to "ours"
        self.parts = parts or {}  # shares of a source, reported beside it

    @contextlib.contextmanager
    def measure(self, out: dict[str, Any]) -> Iterator[None]:
        every = {**self.sources, **self.parts}
        # A thread started inside the window (the store writer) starts from 0.
        before = {k: f() for k, f in every.items()}
        system0 = system_busy_s()
        wall0 = time.perf_counter()
        try:
            yield
        finally:
            out["wall_s"] = time.perf_counter() - wall0
            out["system_s"] = system_busy_s() - system0
            out["sources"] = {k: tuple(a - b for a, b in zip(f(), before[k], strict=True))
                              for k, f in self.sources.items()}
            out["parts"] = {k: tuple(a - b for a, b in zip(f(), before[k], strict=True))
                            for k, f in self.parts.items()}


def system_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat, every process)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    guest = sum(ticks[8:10])  # guest time is already counted in user
    return (sum(ticks) - idle - guest) / CLK_TCK


def cpu_report(cpu: dict[str, Any], n: int, unit: str = "probe") -> dict[str, Any]:
    wall = cpu["wall_s"]
    doc: dict[str, Any] = {}

    def entry(user: float, sys_: float) -> dict[str, float]:
        e = {"cpu_s": round(user + sys_, 3)}
        if n:
            e[f"us_per_{unit}"] = round((user + sys_) / n * 1e6, 1)
            e[f"user_us_per_{unit}"] = round(user / n * 1e6, 1)
            e[f"sys_us_per_{unit}"] = round(sys_ / n * 1e6, 1)
        return e

    total = 0.0
    for name, (user, sys_) in cpu["sources"].items():
        doc[name] = entry(user, sys_)
        total += user + sys_
    for name, (user, sys_) in cpu["parts"].items():
        doc[name] = entry(user, sys_)
    doc["cores_busy"] = round(total / wall, 2) if wall else None
    # Everything else on the machine in the same window (other users' jobs,
    # kernel work charged to no process): noise to watch.
    doc["other_cores_busy"] = (round(max(0.0, cpu["system_s"] - total) / wall, 2)
                               if wall else None)
    return doc


# -- blackbox -----------------------------------------------------------------------


_SUCCESS = re.compile(r"^probe_success (\S+)$", re.M)
_DURATION = re.compile(r"^probe_duration_seconds (\S+)$", re.M)


def merge_cpu(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum CpuMeter readings of several windows (rounds) into one."""
    out: dict[str, Any] = {"wall_s": 0.0, "system_s": 0.0, "sources": {}, "parts": {}}
    for s in samples:
        out["wall_s"] += s["wall_s"]
        out["system_s"] += s["system_s"]
        for group in ("sources", "parts"):
            for k, (u, y) in s[group].items():
                u0, y0 = out[group].get(k, (0.0, 0.0))
                out[group][k] = (u0 + u, y0 + y)
    return out


def merge_windows(windows: list[Window]) -> dict[str, Any]:
    total = Window()
    for w in windows:
        total.completed += w.completed
        total.ok += w.ok
        total.elapsed_s += w.elapsed_s
        for k, v in w.errors.items():
            total.errors[k] = total.errors.get(k, 0) + v
    doc = total.as_dict()
    doc["per_s_by_round"] = [w.as_dict()["per_s"] for w in windows]
    return doc


@dataclass(frozen=True)
class DelaySample:
    error_ms: float  # measured duration − 20 ms
    wall_ms: float  # the caller's round trip − 20 ms
    integer_error_ms: float | None = None  # slaguard's record: integer ms


class Engine:
    """One side of the comparison: warm-up + measured windows, then timing."""

    name = ""

    def __init__(self, children: Children, target: Child, urls: dict[str, str]) -> None:
        self.children, self.target, self.urls = children, target, urls
        # Tagged, so the target files this engine's /delay handler times apart.
        self.delay_url = f"{urls['delay']}?by={self.name}"
        self.windows: list[Window] = []
        self.cpu: list[dict[str, Any]] = []
        self.other_cores: list[float] = []
        self.under_load: list[float] = []

    async def start(self, args: argparse.Namespace) -> None:
        raise NotImplementedError

    async def stop(self, args: argparse.Namespace) -> None:
        raise NotImplementedError

    def meter(self) -> CpuMeter:
        raise NotImplementedError

    async def probe_plain(self, i: int) -> str | None:
        raise NotImplementedError

    async def delay_probe(self) -> DelaySample | None:
        """One probe of /delay; None when it failed."""
        raise NotImplementedError

    def timing_doc(self, samples: list[DelaySample], failed: int) -> dict[str, Any]:
        raise NotImplementedError

    async def window(self, args: argparse.Namespace) -> Window:
        log(f"{self.name}: warm-up {args.warmup:g}s, then {args.duration:g}s "
            f"at concurrency {args.concurrency}")
        mark = len(self.under_load)
        await closed_loop(self.probe_plain, args.concurrency, args.warmup)
        del self.under_load[mark:]  # warm-up durations do not count
        await self.before_window(args)
        cpu: dict[str, Any] = {}
        with self.meter().measure(cpu), self.around_window(args):
            w = await closed_loop(self.probe_plain, args.concurrency, args.duration)
        await self.after_window(args, w)
        self.windows.append(w)
        self.cpu.append(cpu)
        self.other_cores.append(cpu_report(cpu, w.completed)["other_cores_busy"])
        log(f"{self.name}: {w.as_dict()['per_s']} probes/s")
        return w

    async def before_window(self, args: argparse.Namespace) -> None:
        pass

    @contextlib.contextmanager
    def around_window(self, args: argparse.Namespace) -> Iterator[None]:
        yield

    async def after_window(self, args: argparse.Namespace, w: Window) -> None:
        pass

    def throughput_doc(self) -> dict[str, Any]:
        cpu = cpu_report(merge_cpu(self.cpu), sum(w.completed for w in self.windows))
        return {
            "throughput": merge_windows(self.windows),
            "duration_under_load_ms": summary_ms(self.under_load),
            "cpu": cpu,
        }


class Blackbox(Engine):
    name = "blackbox"

    async def start(self, args: argparse.Namespace) -> None:
        # Keep-alive to the exporter, as Prometheus keeps its scrape connections.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                             timeout=aiohttp.ClientTimeout(total=30))
        self.bb, self.base = await start_blackbox(self.children, self.session)
        self.plain_probe = self.probe_url(self.urls["plain"])

    async def stop(self, args: argparse.Namespace) -> None:
        if hasattr(self, "bb"):
            self.children.stop(self.bb)
        if hasattr(self, "session"):
            await self.session.close()

    def meter(self) -> CpuMeter:
        return CpuMeter({"driver": own_cpu, "target": self.target.cpu, "blackbox": self.bb.cpu})

    def probe_url(self, url: str) -> str:
        return f"{self.base}/probe?" + urlencode({"module": "http_2xx", "target": url})

    async def probe_plain(self, _i: int) -> str | None:
        async with self.session.get(self.plain_probe) as resp:
            text = await resp.text()
        if resp.status != 200:
            return f"exporter http {resp.status}"
        m = _SUCCESS.search(text)
        if not (m and m.group(1) == "1"):
            return "probe_success 0"
        d = _DURATION.search(text)
        if d:
            self.under_load.append(float(d.group(1)) * 1000)
        return None

    async def driver_ceiling(self, args: argparse.Namespace) -> dict[str, Any]:
        """The driver alone: the same client against endpoints that run no probe.
        /metrics (Go and process collectors) is not free for the exporter either;
        /-/healthy is next to nothing."""

        def get(path: str) -> Op:
            async def op(_i: int) -> str | None:
                async with self.session.get(f"{self.base}{path}") as resp:
                    await resp.read()
                    return None if resp.status == 200 else f"http {resp.status}"

            return op

        seconds = min(args.duration, 3.0)
        out: dict[str, Any] = {}
        for path in ("/metrics", "/-/healthy"):
            log(f"blackbox: driver alone, {path} x{args.concurrency} for {seconds:g}s")
            await closed_loop(get(path), args.concurrency, min(0.5, seconds / 4))
            cpu: dict[str, Any] = {}
            with self.meter().measure(cpu):
                w = await closed_loop(get(path), args.concurrency, seconds)
            out[path] = {"requests_per_s": w.as_dict()["per_s"], "window": w.as_dict(),
                         "cpu": cpu_report(cpu, w.completed, "request")}
        return out

    async def delay_probe(self) -> DelaySample | None:
        t0 = time.perf_counter_ns()
        async with self.session.get(self.probe_url(self.delay_url)) as resp:
            text = await resp.text()
        wall_ms = (time.perf_counter_ns() - t0) / 1e6
        m, s = _DURATION.search(text), _SUCCESS.search(text)
        if not (m and s and s.group(1) == "1"):
            return None
        return DelaySample(float(m.group(1)) * 1000 - DELAY_MS, wall_ms - DELAY_MS)

    def timing_doc(self, samples: list[DelaySample], failed: int) -> dict[str, Any]:
        return {
            "timing_error_ms": {
                "source": "probe_duration_seconds − 20 ms",
                "probes": len(samples), "failed": failed,
                **summary_ms([x.error_ms for x in samples]),
            },
            "driver_round_trip_minus_20ms": summary_ms([x.wall_ms for x in samples]),
        }


async def target_stats(session: aiohttp.ClientSession, base: str, reset: bool
                       ) -> dict[str, Any]:
    async with session.get(f"{base}/stats", params={"reset": "1"} if reset else {}) as resp:
        doc: dict[str, Any] = await resp.json()
    doc.pop("delay_ms", None)
    return doc


# -- slaguard ------------------------------------------------------------------------


def slaguard_config(db: Path, concurrency: int, workers: int, plain_url: str,
                    delay_url: str) -> Any:
    targets = [
        {"name": f"plain-{i:03d}", "service": "bench", "kind": "http", "url": plain_url,
         "interval": "30s", "timeout": f"{PROBE_TIMEOUT_S}s"}
        for i in range(concurrency)
    ]
    targets.append({"name": "delay", "service": "bench", "kind": "http", "url": delay_url,
                    "interval": "30s", "timeout": f"{PROBE_TIMEOUT_S}s"})
    raw = {
        "version": 1,
        "storage": {"path": str(db)},
        "server": {"listen": "127.0.0.1:0"},
        "location": "bench",
        "scheduling": {"max_concurrency": concurrency, "workers": workers},
        "services": {"bench": {"availability": "99.9%"}},
        "targets": targets,
    }
    cfg, _warnings = parse_config(raw, env={})
    return cfg


def flush_timeout(args: argparse.Namespace) -> float:
    return max(30.0, 3 * args.duration)


async def flush(app: App, args: argparse.Namespace) -> None:
    """The pipeline's flush, bounded: a store that keeps failing (the pipeline
    retries a failed batch forever, by design) must fail the benchmark, not hang it."""
    try:
        await asyncio.wait_for(app.pipeline.flush(), flush_timeout(args))
    except TimeoutError:
        raise RuntimeError(
            f"ResultPipeline did not commit within {flush_timeout(args):g}s "
            f"({app.pipeline.pending} results queued); see the store errors above"
        ) from None


def metrics_results_total(app: App, prefix: str) -> int:
    text = generate_latest(app.registry).decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("slaguard_probe_results_total{") and f'target="{prefix}' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def live_state_results(app: App, prefix: str) -> int:
    return sum(sum(st.outcomes.values()) for key, st in app.state.snapshot()
               if key[0].startswith(prefix))


class LoopLag:
    """Samples how late the event loop wakes a 10 ms sleeper (loop saturation)."""

    def __init__(self, period_s: float = 0.01) -> None:
        self.period_s = period_s
        self.samples: list[float] = []

    async def _sample(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.period_s)
            self.samples.append((time.perf_counter() - t0 - self.period_s) * 1000)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        task = asyncio.ensure_future(self._sample())
        try:
            yield
        finally:
            task.cancel()

    def summary(self) -> dict[str, float]:
        return summary_ms(self.samples)


class Slaguard(Engine):
    """slaguard's engine wired by slaguard.app.App: config → ProbeScheduler.run_once
    (semaphore) → probes.PROBES["http"] → ResultPipeline → SQLiteStore → LiveState."""

    name = "slaguard"

    async def start(self, args: argparse.Namespace) -> None:
        cfg = slaguard_config(self.children.tmp / "slaguard.db", args.concurrency,
                              args.workers, self.urls["plain"], self.delay_url)
        self.app = App(cfg, serve_http=False)
        await self.app.start(schedule=False)
        self.names = [f"plain-{i:03d}" for i in range(args.concurrency)]
        self.lag = LoopLag()
        self.profiled = False
        self.record = {"probes_in_windows": 0, "store_rows_committed": 0,
                       "live_state_results": 0, "metrics_slaguard_probe_results_total": 0,
                       "pipeline_committed_when_window_closed": 0,
                       "flush_after_window_s_max": 0.0}

    async def stop(self, args: argparse.Namespace) -> None:
        if not hasattr(self, "app"):
            return
        try:
            await asyncio.wait_for(self.app.stop(), flush_timeout(args))
        except TimeoutError:
            log("slaguard: App.stop() did not finish (pipeline still retrying?)")

    def meter(self) -> CpuMeter:
        # "engine" is the main process (store writer, live state, metrics, and the
        # benchmark's callers) plus the probe worker processes.
        workers = self.app.pool.pids if self.app.pool else []
        return CpuMeter(
            {"engine": lambda: add_cpu(own_cpu(), *(pid_cpu(p) for p in workers)),
             "target": self.target.cpu},
            parts={"engine_main_process": own_cpu,
                   "engine_probe_workers": lambda: add_cpu(*(pid_cpu(p) for p in workers)),
                   "engine_store_writer_thread": thread_cpu("store-writer")})

    async def probe_plain(self, i: int) -> str | None:
        r = await self.app.run_once(self.names[i])
        if r.outcome is Outcome.SUCCESS:
            self.under_load.append(float(r.duration_ms))
            return None
        return f"{r.outcome.value}: {r.error.cls.value if r.error else '?'}"

    async def before_window(self, args: argparse.Namespace) -> None:
        await flush(self.app, args)
        self._rows = self.app.store.count()
        self._state = live_state_results(self.app, "plain-")
        self._metrics = metrics_results_total(self.app, "plain-")
        self._committed = self.app.pipeline.committed

    @contextlib.contextmanager
    def around_window(self, args: argparse.Namespace) -> Iterator[None]:
        profiler = cProfile.Profile() if args.profile and not self.profiled else None
        with self.lag.running():
            if profiler:
                profiler.enable()
            try:
                yield
            finally:
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                    self.profiled = True
                    log(f"slaguard: cProfile of the window written to {args.profile}")
                self._committed_at_close = self.app.pipeline.committed - self._committed

    async def after_window(self, args: argparse.Namespace, w: Window) -> None:
        t0 = time.perf_counter()
        await flush(self.app, args)
        rec = self.record
        rec["flush_after_window_s_max"] = max(rec["flush_after_window_s_max"],
                                              round(time.perf_counter() - t0, 3))
        rec["probes_in_windows"] += w.completed
        rec["store_rows_committed"] += self.app.store.count() - self._rows
        rec["pipeline_committed_when_window_closed"] += self._committed_at_close
        rec["live_state_results"] += live_state_results(self.app, "plain-") - self._state
        rec["metrics_slaguard_probe_results_total"] += (
            metrics_results_total(self.app, "plain-") - self._metrics)

    def throughput_doc(self) -> dict[str, Any]:
        doc = super().throughput_doc()
        doc["record"] = dict(self.record)
        doc["event_loop_lag_ms"] = {
            "source": "overshoot of a 10 ms asyncio.sleep in the engine's loop during the "
                      "windows: time every in-flight probe's clock also sees",
            **self.lag.summary(),
        }
        return doc

    async def delay_probe(self) -> DelaySample | None:
        t0 = time.perf_counter_ns()
        r = await self.app.run_once("delay")
        wall_ms = (time.perf_counter_ns() - t0) / 1e6
        if r.outcome is not Outcome.SUCCESS:
            return None
        assert r.duration_us is not None
        return DelaySample(r.duration_us / 1000 - DELAY_MS, wall_ms - DELAY_MS,
                           float(r.duration_ms - DELAY_MS))

    def timing_doc(self, samples: list[DelaySample], failed: int) -> dict[str, Any]:
        return {
            "timing_error_ms": {
                "source": "result.duration_us − 20 ms: what slaguard's /metrics exports as "
                          "probe_duration_seconds, like blackbox's figure",
                "probes": len(samples), "failed": failed,
                **summary_ms([x.error_ms for x in samples]),
            },
            "timing_error_integer_ms": {
                "source": "result.duration_ms − 20 ms (the record's integer ms, rounded "
                          "half up)",
                **summary_ms([x.integer_error_ms for x in samples
                              if x.integer_error_ms is not None]),
            },
            "run_once_wall_minus_20ms": summary_ms([x.wall_ms for x in samples]),
        }


async def timing(engines: tuple[Engine, Engine], urls: dict[str, str],
                 args: argparse.Namespace) -> tuple[dict[str, Any], ...]:
    """Sequential probes of /delay, the engines taking turns (A B, B A, ...), so
    both see the machine in the same state: ``--timing-probes`` each, after 5
    unreported warm-up probes each."""
    log(f"timing: {args.timing_probes} sequential probes of /delay per engine, interleaved")
    samples: dict[str, list[DelaySample]] = {e.name: [] for e in engines}
    failed = dict.fromkeys(samples, 0)
    async with aiohttp.ClientSession() as session:
        for e in engines:
            for _ in range(5):
                await e.delay_probe()
        await target_stats(session, urls["base"], reset=True)
        for i in range(args.timing_probes):
            for e in (engines if i % 2 == 0 else engines[::-1]):
                sample = await e.delay_probe()
                if sample is None:
                    failed[e.name] += 1
                else:
                    samples[e.name].append(sample)
        server = await target_stats(session, urls["base"], reset=True)
    return tuple({**e.timing_doc(samples[e.name], failed[e.name]),
                  **own_overhead(samples[e.name], server["by"].get(e.name, {}))}
                 for e in engines)


def own_overhead(samples: list[DelaySample], target: dict[str, Any]) -> dict[str, Any]:
    """The target's own overshoot of 20 ms for this engine's probes, and the
    engine's error without it, probe by probe (the target answers the probes
    one at a time, in order, so its n-th sample is the engine's n-th probe)."""
    handler_us: list[int] = target.pop("samples_us", [])
    doc: dict[str, Any] = {"target_delay_handler_ms": target}
    if len(handler_us) == len(samples):  # a failed probe would break the pairing
        doc["error_minus_target_overshoot_ms"] = summary_ms(
            [x.error_ms - (us / 1000 - DELAY_MS) for x, us in zip(samples, handler_us,
                                                                   strict=True)])
    return doc


# -- first probe of a process ---------------------------------------------------------

# What the ``slaguard`` console script runs (independent of how it was installed).
SLAGUARD_CLI = "import sys; from slaguard.cli import main; sys.exit(main(sys.argv[1:]))"
FIRST_PROBE_GOAL_MS = 1.0


async def slaguard_first_probe(config: Path) -> float | None:
    """``slaguard probe delay`` in a new process: its one probe is the process's
    first (the command warms up before the clock starts); duration_us in ms."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SLAGUARD_CLI, "probe", "-c", str(config), "delay",
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, preexec_fn=_die_with_parent)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    try:
        doc = json.loads(out)
    except ValueError:
        log(f"slaguard probe: no result (exit {proc.returncode}): {err.decode()[-500:]}")
        return None
    return doc["duration_us"] / 1000 if doc.get("outcome") == "success" else None


async def blackbox_first_probe(children: Children, session: aiohttp.ClientSession,
                               url: str) -> float | None:
    """A new blackbox_exporter; its first /probe once /-/healthy answers."""
    child, base = await start_blackbox(children, session)
    try:
        query = urlencode({"module": "http_2xx", "target": url})
        async with session.get(f"{base}/probe?{query}") as resp:
            text = await resp.text()
    finally:
        children.stop(child)
    m, s = _DURATION.search(text), _SUCCESS.search(text)
    return float(m.group(1)) * 1000 if m and s and s.group(1) == "1" else None


async def first_probes(engines: tuple[Engine, Engine], children: Children,
                       urls: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """``--first-probes`` fresh processes per engine, each followed by one warm
    probe of the running engine, the engines taking turns (A B, B A, ...)."""
    log(f"first probe: {args.first_probes} fresh processes per engine, interleaved")
    config = children.tmp / "first-probe.yaml"
    config.write_text(json.dumps({  # JSON is YAML
        "version": 1, "location": "bench",
        "storage": {"path": str(children.tmp / "first-probe.db")},
        "services": {"bench": {"availability": "99.9%"}},
        "targets": [{"name": "delay", "service": "bench", "kind": "http",
                     "url": f"{urls['delay']}?by=slaguard-first",
                     "timeout": f"{PROBE_TIMEOUT_S}s"}],
    }), encoding="utf-8")
    first: dict[str, list[float]] = {e.name: [] for e in engines}
    warm: dict[str, list[float]] = {e.name: [] for e in engines}
    failed = dict.fromkeys(first, 0)
    async with aiohttp.ClientSession() as session:
        await target_stats(session, urls["base"], reset=True)
        for i in range(args.first_probes):
            for e in (engines if i % 2 == 0 else engines[::-1]):
                ms = await (slaguard_first_probe(config) if e.name == "slaguard" else
                            blackbox_first_probe(children, session,
                                                 f"{urls['delay']}?by=blackbox-first"))
                sample = await e.delay_probe()
                if ms is None or sample is None:
                    failed[e.name] += 1
                    continue
                first[e.name].append(ms)
                warm[e.name].append(sample.error_ms + DELAY_MS)
        server = (await target_stats(session, urls["base"], reset=True))["by"]
    return {e.name: first_probe_doc(first[e.name], warm[e.name], failed[e.name],
                                    server.get(f"{e.name}-first", {}))
            for e in engines}


def first_probe_doc(first: list[float], warm: list[float], failed: int,
                    target: dict[str, Any]) -> dict[str, Any]:
    target.pop("samples_us", None)
    doc: dict[str, Any] = {
        "samples": len(first), "failed": failed,
        "first_ms": summary_ms(first),
        "warm_ms": summary_ms(warm),
        "target_delay_handler_ms": target,
    }
    if first and warm:
        warm_median = statistics.median(warm)
        doc["first_median_minus_warm_median_ms"] = round(
            statistics.median(first) - warm_median, 3)
        doc["first_max_minus_warm_median_ms"] = round(max(first) - warm_median, 3)
        doc["goal_met"] = abs(doc["first_median_minus_warm_median_ms"]) <= FIRST_PROBE_GOAL_MS
    return doc


# -- the run ---------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    import aiohttp as _aiohttp

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def read(path: str) -> str | None:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return None

    def sysctl(name: str) -> str | None:
        return read(f"/proc/sys/{name.replace('.', '/')}")

    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "aiohttp": _aiohttp.__version__,
        "event_loop": type(asyncio.new_event_loop()).__name__,
        "blackbox_exporter": blackbox_version(),
        "net.ipv4.tcp_tw_reuse": sysctl("net.ipv4.tcp_tw_reuse"),
        "net.ipv4.ip_local_port_range": sysctl("net.ipv4.ip_local_port_range"),
        "loadavg_at_end": read("/proc/loadavg"),
    }


async def run(args: argparse.Namespace, children: Children) -> dict[str, Any]:
    target, port = start_target(children)
    base = f"http://127.0.0.1:{port}"
    urls = {"base": base, "plain": f"{base}/", "delay": f"{base}/delay"}
    log(f"target server pid {target.proc.pid} on {base}")

    bb, sg = Blackbox(children, target, urls), Slaguard(children, target, urls)
    try:
        await bb.start(args)
        driver = await bb.driver_ceiling(args)
        await sg.start(args)
        # One after the other, never together; with --rounds > 1 in ABBA order,
        # so a slow drift of the machine's load favours neither engine.
        for r in range(args.rounds):
            for engine in ((bb, sg) if r % 2 == 0 else (sg, bb)):
                await engine.window(args)
        bb_timing, sg_timing = await timing((bb, sg), urls, args)
        first = await first_probes((bb, sg), children, urls, args) if args.first_probes else {}
        await flush(sg.app, args)
        sg_timing["timing_rows_committed"] = len(sg.app.store.results(target="delay"))
    finally:
        await sg.stop(args)
        await bb.stop(args)

    blackbox = {**bb.throughput_doc(), **bb_timing}
    cpu = blackbox["cpu"]
    blackbox["driver"] = {
        "note": DRIVER_NOTE,
        "metrics_requests_per_s": driver["/metrics"]["requests_per_s"],
        "healthy_requests_per_s": driver["/-/healthy"]["requests_per_s"],
        "cpu_us_per_probe": cpu["driver"].get("us_per_probe"),
        "share_of_probe_window_cpu": round(cpu["driver"]["cpu_s"] / max(1e-9, sum(
            cpu[k]["cpu_s"] for k in ("driver", "target", "blackbox"))), 3),
        "endpoints": driver,
    }
    slaguard = {**sg.throughput_doc(), **sg_timing}
    if first:
        blackbox["first_probe"] = {"source": FIRST_PROBE_NOTE["blackbox"], **first["blackbox"]}
        slaguard["first_probe"] = {"source": FIRST_PROBE_NOTE["slaguard"], **first["slaguard"]}

    s_rate = slaguard["throughput"]["per_s"]
    b_rate = blackbox["throughput"]["per_s"]
    ratio = round(s_rate / b_rate, 3) if b_rate else None
    s_err, b_err = slaguard["timing_error_ms"], blackbox["timing_error_ms"]
    s_cpu = slaguard["cpu"]
    noise = max(bb.other_cores + sg.other_cores)
    return {
        "benchmark": "probe_throughput",
        "params": {
            "concurrency": args.concurrency, "duration_s": args.duration,
            "rounds": args.rounds, "warmup_s": args.warmup,
            "timing_probes": args.timing_probes, "first_probes": args.first_probes,
            "delay_ms": DELAY_MS,
            "probe_timeout_s": PROBE_TIMEOUT_S, "quick": args.quick,
            "connection": "cold (both engines)", "profiled": bool(args.profile),
            "slaguard_workers": args.workers, "event_loop": loop_name(),
        },
        "machine": machine_info(),
        "target": {
            "server": "bench/_target.py (minimal HTTP/1.1 on an asyncio protocol, separate "
                      "process, Connection: close)",
            "plain": urls["plain"], "delay": urls["delay"],
        },
        "blackbox": blackbox,
        "slaguard": slaguard,
        "comparison": {
            "slaguard_per_s": s_rate,
            "blackbox_per_s": b_rate,
            "ratio_slaguard_over_blackbox": ratio,
            "ratio_by_round": [
                round(s / b, 3) if b else None for s, b in zip(
                    slaguard["throughput"]["per_s_by_round"],
                    blackbox["throughput"]["per_s_by_round"], strict=True)],
            "median_error_ms": {"slaguard": s_err.get("median"),
                                "blackbox": b_err.get("median")},
            "p99_error_ms": {"slaguard": s_err.get("p99"), "blackbox": b_err.get("p99")},
            "median_target_overshoot_ms": {
                name: round(doc["target_delay_handler_ms"]["handler_median_ms"] - DELAY_MS, 3)
                if "handler_median_ms" in doc["target_delay_handler_ms"] else None
                for name, doc in (("slaguard", slaguard), ("blackbox", blackbox))},
            "median_error_minus_target_overshoot_ms": {
                "slaguard": slaguard.get("error_minus_target_overshoot_ms", {}).get("median"),
                "blackbox": blackbox.get("error_minus_target_overshoot_ms", {}).get("median")},
            "mean_error_ms": {"slaguard": s_err.get("mean"), "blackbox": b_err.get("mean")},
            # CPU per probe of everything the probe needs on this machine; less
            # sensitive to other load than the rates are.
            "cpu_us_per_probe": {
                "slaguard_engine": s_cpu["engine"].get("us_per_probe"),
                "blackbox_exporter": cpu["blackbox"].get("us_per_probe"),
                "blackbox_driver": cpu["driver"].get("us_per_probe"),
                "target_in_slaguard_windows": s_cpu["target"].get("us_per_probe"),
                "target_in_blackbox_windows": cpu["target"].get("us_per_probe"),
            },
            "max_other_cores_busy": noise,
            "first_probe_median_minus_warm_median_ms": {
                name: first[name].get("first_median_minus_warm_median_ms")
                for name in ("slaguard", "blackbox")} if first else None,
            "first_probe_goal": f"first probe's median within {FIRST_PROBE_GOAL_MS:g} ms of "
                                "the warm median, each engine",
            "first_probe_goal_met": {name: first[name].get("goal_met")
                                     for name in ("slaguard", "blackbox")} if first else None,
            "goal": "slaguard >= 2x blackbox's rate, median error no worse",
            "goal_rate_met": ratio is not None and ratio >= 2,
            # Both from probe_duration_seconds as each exports it (µs resolution).
            "goal_error_met": (s_err.get("median") is not None and b_err.get("median")
                               is not None and s_err["median"] <= b_err["median"]),
        },
        "notes": [
            DRIVER_NOTE,
            "Target, engine and driver share the machine's cores (machine.cores; each "
            "cpu.cores_busy): a rate here is a rate of this whole system, not of the engine "
            "alone. cpu.other_cores_busy is what the rest of the machine used meanwhile; "
            "above ~0.2 the rates of that window are disturbed"
            + (f" (this run: up to {noise})." if noise > 0.2 else "."),
            "slaguard's rate includes recording every result (SQLite commit in the pipeline's "
            "writer thread, then LiveState), as in the app; blackbox keeps nothing.",
            f"slaguard's engine is {args.workers} probe worker process(es) (each one event "
            "loop) feeding the main process, which records; blackbox_exporter is Go and uses "
            "every core. The main process also runs this benchmark's callers (App.run_once), "
            "as blackbox's figures include its driver.",
            "slaguard's timing error is read from duration_us (µs, what its /metrics exports "
            "as probe_duration_seconds); the record's duration_ms is integer ms, and "
            "timing_error_integer_ms gives that figure.",
            "target_delay_handler_ms is the target's own time in the /delay handler, "
            "for each engine's probes (each tags its requests): when a request arrives "
            "within the target loop's millisecond tick changes its timer's overshoot, so "
            "it differs between engines; error_minus_target_overshoot_ms takes it out, "
            "probe by probe, leaving each engine's own share of the error.",
        ],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=32, help="probes in flight (default 32)")
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds of each throughput window (default 10)")
    p.add_argument("--timing-probes", type=int, default=200,
                   help="sequential probes of the 20 ms endpoint per engine (default 200)")
    p.add_argument("--first-probes", type=int, default=20,
                   help="fresh processes per engine timing their first probe of the 20 ms "
                        "endpoint (default 20; 0 skips)")
    p.add_argument("--rounds", type=int, default=1,
                   help="measured windows per engine, alternated ABBA (default 1); more "
                        "rounds average out a machine whose other load drifts")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2 s windows, 50 timing probes")
    p.add_argument("--profile", metavar="FILE",
                   help="cProfile slaguard's throughput window into FILE (pstats); the "
                        "profiler slows the engine, so the figures of such a run are marked")
    p.add_argument("--workers", type=int, default=2,
                   help="slaguard's probe worker processes (scheduling.workers; default 2, "
                        "one per core of the reference machine; 0: probes in the main "
                        "process)")
    p.add_argument("--keep-tmp", action="store_true",
                   help="keep the temporary directory (logs, configs, SQLite store)")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.timing_probes = 2.0, 50
        args.first_probes = min(args.first_probes, 5)
    if min(args.concurrency, args.timing_probes, args.rounds) < 1 or args.duration <= 0:
        p.error("--concurrency, --duration, --rounds and --timing-probes must be positive")
    if args.first_probes < 0:
        p.error("--first-probes must be 0 or more")
    args.warmup = min(1.0, args.duration / 10)
    return args


async def main_async(args: argparse.Namespace, children: Children) -> dict[str, Any]:
    """run() under signal handling: the first SIGINT/SIGTERM stops the children at
    once and cancels the run, so every cleanup (finally) runs in order; a second
    one exits on the spot."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            os._exit(128 + signum)
        log(f"{signal.Signals(signum).name}: stopping child processes")
        children.stop_all()
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    return await run(args, children)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (Path(BLACKBOX).exists() or shutil.which(BLACKBOX)):
        print(f"blackbox_exporter not found at {BLACKBOX} (set BLACKBOX_EXPORTER)",
              file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="slaguard-bench-"))
    children = Children(tmp)
    # Before the event loop runs, a signal is an ordinary KeyboardInterrupt.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        doc = eventloop.run(main_async(args, children))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted")
        return 130
    finally:
        children.stop_all()
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
