"""InfluxDB exporter: line protocol, SLO points, the durable spool, and delivery
through outages — against a real local HTTP server for the answer handling and a
real VictoriaMetrics (InfluxDB v2 write API) for the round trip."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporters.influxdb import (
    Backoff,
    InfluxExporter,
    Verdict,
    classify,
    encode_line,
    escape_measurement,
    escape_tag,
    format_value,
    probe_line,
    quote_string,
    seconds,
    slo_lines,
)
from exporters.spool import Spool
from slaguard.config.schema import InfluxDBExporter as InfluxDBConfig
from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.store import SQLiteStore
from slo.evaluator import report_from_results
from slo.model import Policy, ServiceSpec, TargetSpec
from slo.periods import Period
from tests.conftest import free_port, require_binary, serve_local
from tests.integration.servers import process

# 2026-10-01T00:00:00+08:00
OCT_2026 = 1_790_784_000_000
TITLE = "核心服务 / Core service"
FAST = Backoff(initial_s=0.02, cap_s=0.2, jitter=False)


def result(i: int, target: str = "web-home", service: str = "标书 生成", t0: int = OCT_2026,
           **kw: Any) -> ProbeResult:
    fields: dict[str, Any] = {"kind": "http", "outcome": Outcome.SUCCESS,
                              "duration_ms": 100 + i, "status_code": 200, **kw}
    return ProbeResult(ts_ms=t0 + i * 1000, target=target, service=service, location="shanghai",
                       **fields)


# -- line protocol ------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "wire"), [
    ("web-home", "web-home"),
    ("core service", r"core\ service"),
    ("a,b", r"a\,b"),
    ("k=v", r"k\=v"),
    ('say "hi"', 'say\\ "hi"'),  # quotes are literal in tags
    ("核心 服务", "核心\\ 服务"),
    ("C:\\data", "C:\\data"),  # literal before an ordinary character
    ("tail\\", "tail\\\\"),  # would escape the separator after it
    ("x\\,y", "x\\\\\\,y"),  # a backslash, then an escaped comma
    ("p\\\\q", "p\\\\\\q"),  # a pair: the first would escape the second
    ("two\nlines\r", r"two\ lines\ "),  # no line breaks inside a point
])
def test_tag_escaping(raw: str, wire: str) -> None:
    assert escape_tag(raw) == wire


def test_measurement_and_string_field_escaping() -> None:
    assert escape_measurement("probe run,x=1") == r"probe\ run\,x=1"  # '=' is plain there
    assert quote_string('he said "hi" \\ ok') == r'"he said \"hi\" \\ ok"'
    assert quote_string("标书, a=b") == '"标书, a=b"'  # nothing else needs escaping inside quotes


@pytest.mark.parametrize(("ms", "text"), [
    (0, "0.000"), (5, "0.005"), (999, "0.999"), (1000, "1.000"), (1234, "1.234"),
    (600_000, "600.000"), (2**53 + 1, "9007199254740.993"),
])
def test_seconds_are_exact_decimals_of_the_integer_ms(ms: int, text: str) -> None:
    assert format_value(seconds(ms)) == text
    assert Decimal(text) * 1000 == ms  # no float on the way


def test_field_value_types() -> None:
    assert format_value(True) == "true"
    assert format_value(7) == "7i"
    assert format_value(0.1) == "0.1"
    assert format_value(Fraction(1, 3)) == repr(1 / 3)
    assert format_value("x") == '"x"'
    assert format_value(None) is None
    assert format_value(float("nan")) is None
    assert format_value(Decimal("Infinity")) is None


def test_encode_line_sorts_tags_and_leaves_out_empty_ones() -> None:
    line = encode_line("m", {"z": "1", "a": "", "b": "x y"}, {"v": 1, "none": None}, 42)
    assert line == r"m,b=x\ y,z=1 v=1i 42"
    with pytest.raises(ValueError, match="at least one field"):
        encode_line("m", {"a": "b"}, {"v": None}, 42)


def test_probe_line_of_an_upload() -> None:
    r = result(0, service="标书 生成, x=y", kind="upload", duration_ms=1234, bytes=10 * 2**20,
               status_code=201, phases_ms={"send": 1000, "resolve": 5, "tls": 7})
    assert probe_line(r) == (
        r"probe,kind=upload,location=shanghai,outcome=success,service=标书\ 生成\,\ x\=y,"
        "target=web-home duration=1.234,phase_resolve=0.005,phase_tls=0.007,"
        f"phase_send=1.000,status_code=201i,bytes=10485760i,throughput=10485760i {OCT_2026}"
    )


def test_probe_line_of_a_failure_has_only_what_was_measured() -> None:
    r = result(0, outcome=Outcome.FAILURE, duration_ms=10_000, status_code=None,
               error=ProbeError(ErrorClass.TIMEOUT, "timed out"))
    assert probe_line(r).endswith(f"outcome=failure,service=标书\\ 生成,target=web-home "
                                  f"duration=10.000 {OCT_2026}")


# -- SLO points ----------------------------------------------------------------------


def _one_hour_report() -> Any:
    """One target every 30 s for an hour, down for 5 min (10 failures) in the middle."""
    policy = Policy(
        timezone="Asia/Shanghai",
        services=(ServiceSpec("core", Decimal("99.9"), ("web",), title=TITLE),),
        targets=(TargetSpec("web", "core", 30_000),),
    )
    pattern = [Outcome.SUCCESS] * 60 + [Outcome.FAILURE] * 10 + [Outcome.SUCCESS] * 50
    results = [ProbeResult(OCT_2026 + i * 30_000, "web", "core", "shanghai", "http", o, 200)
               for i, o in enumerate(pattern)]
    period = Period(OCT_2026, OCT_2026 + 86_400_000, "Asia/Shanghai", "day")
    return report_from_results(policy, period, OCT_2026 + 3_600_000, results, burn=True)


def test_slo_points_from_a_report() -> None:
    report = _one_hour_report()
    lines = slo_lines(report)
    tags = r"slo,service=core,title=核心服务\ /\ Core\ service"
    now = OCT_2026 + 3_600_000
    # 300 s down of 3600 s evaluated; the day's budget is 0.1 % of 86 400 s = 86.4 s.
    assert lines[0] == (
        f"{tags} availability={11 / 12!r},objective=0.999,"
        f"error_budget_remaining={float(1 - Fraction(300) / Fraction('86.4'))!r},"
        f"downtime_seconds=300i,gap_seconds=0i,coverage=1.0 {now}"
    )
    burn = {line.split("window=")[1].split(" ")[0]: line for line in lines[1:]}
    assert sorted(burn) == sorted(["5m", "30m", "1h", "2h", "6h", "1d", "3d"])
    # The last 5 min were fine; over the last hour 1/12 was bad: burn rate (1/12)/0.001.
    assert burn["5m"] == f"{tags},window=5m burn_rate=0.0,error_ratio=0.0 {now}"
    assert f"burn_rate={float(Fraction(1, 12) / Fraction(1, 1000))!r}," in burn["1h"]


# -- answers and backoff -----------------------------------------------------------------


@pytest.mark.parametrize(("status", "verdict"), [
    (200, Verdict.ACCEPTED), (204, Verdict.ACCEPTED),
    (None, Verdict.RETRY), (500, Verdict.RETRY), (503, Verdict.RETRY), (429, Verdict.RETRY),
    (408, Verdict.RETRY), (401, Verdict.RETRY), (403, Verdict.RETRY), (404, Verdict.RETRY),
    (307, Verdict.RETRY),
    (413, Verdict.SPLIT),
    (400, Verdict.POISON), (422, Verdict.POISON), (409, Verdict.POISON),
])
def test_classify(status: int | None, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_backoff_doubles_up_to_its_cap_and_honours_retry_after() -> None:
    b = Backoff(initial_s=0.5, cap_s=8.0, jitter=False)
    assert [b.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert b.delay(10_000) == 8.0
    assert b.delay(1, retry_after_s=3.0) == 3.0
    assert b.delay(1, retry_after_s=3600.0) == 8.0  # never longer than the cap
    jittered = Backoff(initial_s=4.0, cap_s=8.0)
    assert all(2.0 <= jittered.delay(1) <= 4.0 for _ in range(50))


# -- the spool ---------------------------------------------------------------------------


def test_spool_is_a_durable_fifo_with_a_dead_table(tmp_path: Path) -> None:
    path = tmp_path / "slaguard.db"
    s = Spool(path)
    s.append(["a", "b", "c"])
    s.append(["d"])
    first = s.peek(2)
    assert first is not None and first.lines == ("a", "b")
    s.ack(first)
    rest = s.peek(10)
    assert rest is not None and rest.lines == ("c", "d")
    bad = s.peek(1)
    assert bad is not None
    s.bury(bad, "HTTP 400: unable to parse", 400, now_ms=7)
    assert len(s) == 1
    s.close()

    s = Spool(path)  # a new process
    assert len(s) == 1
    again = s.peek(10)
    assert again is not None and again.lines == ("d",)
    [dead] = s.dead()
    assert (dead.line, dead.status, dead.error, dead.failed_ms) == (
        "c", 400, "HTTP 400: unable to parse", 7)
    assert s.requeue_dead() == 1
    after = s.peek(10)
    assert after is not None and after.lines == ("d", "c") and s.dead_count() == 0
    s.close()


def test_spool_lives_beside_the_store_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "slaguard.db"
    store = SQLiteStore(path)
    spool = Spool(path, busy_timeout_ms=4321)
    store.add([result(0, target="web")], {"web": 30_000})
    spool.append(["line"])
    assert store.count() == 1 and len(spool) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM influx_spool").fetchone()[0] == 1
    db.close()
    assert spool._db.execute("PRAGMA busy_timeout").fetchone()[0] == 4321
    spool.close()
    store.close()


def test_spool_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "slaguard.db"
    spool = Spool(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the store's writer, mid-transaction
    releaser = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    releaser.start()
    started = time.monotonic()
    spool.append(["after the other writer"])
    assert time.monotonic() - started >= 0.25
    assert len(spool) == 1
    releaser.join()
    other.close()
    spool.close()


# -- delivery against a scripted server ------------------------------------------------------


@dataclass
class Write:
    query: dict[str, str]
    headers: dict[str, str]
    lines: list[str]
    status: int


@dataclass
class FakeInflux:
    """A real HTTP server on loopback that answers each write as ``answer`` decides."""

    url: str = ""
    writes: list[Write] = field(default_factory=list)
    answer: Callable[[list[str]], int] = lambda lines: 204
    headers: dict[str, str] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        lines = (await request.text()).splitlines()
        status = self.answer(lines)
        self.writes.append(Write(dict(request.query), dict(request.headers), lines, status))
        body = "" if status == 204 else json.dumps({"code": "invalid", "message": "refused"})
        return web.Response(status=status, text=body or None,
                            headers=self.headers if status >= 400 else None)

    def accepted(self) -> list[str]:
        return [line for w in self.writes if 200 <= w.status < 300 for line in w.lines]


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeInflux:
    f = FakeInflux()
    app = web.Application()
    app.router.add_post("/api/v2/write", f.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    f.url = str(server.make_url("")).rstrip("/")
    return f


@pytest.fixture
async def exporter_for(tmp_path: Path) -> AsyncIterator[Callable[..., InfluxExporter]]:
    made: list[InfluxExporter] = []

    def make(url: str, **kw: Any) -> InfluxExporter:
        options: dict[str, Any] = {"linger_s": 0.02, "backoff": FAST, **kw}
        e = InfluxExporter(url, tmp_path / "slaguard.db", **options)
        made.append(e)
        return e

    yield make
    for e in made:
        await e.stop(drain_s=0)


async def observe_all(exporter: InfluxExporter, results: list[ProbeResult], chunk: int = 7
                      ) -> list[str]:
    for i in range(0, len(results), chunk):
        exporter.observe(results[i:i + chunk])
    return [probe_line(r) for r in results]


async def test_write_request_shape(fake: FakeInflux, tmp_path: Path) -> None:
    conf = InfluxDBConfig(enabled=True, url=fake.url + "/", org="acme", bucket="slaguard",
                          token="t0k")
    e = InfluxExporter.from_config(conf, tmp_path / "slaguard.db", linger_s=0.02)
    try:
        await e.start()
        sent = await observe_all(e, [result(i) for i in range(3)])
        assert await e.flush(5)
    finally:
        await e.stop(drain_s=0)
    [w] = fake.writes
    assert w.query == {"org": "acme", "bucket": "slaguard", "precision": "ms"}
    assert w.headers["Authorization"] == "Token t0k"
    assert w.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert w.lines == sent
    assert e.stats()["sent_points"] == 3 and e.pending_points == 0


async def test_points_are_batched_not_sent_one_request_each(fake: FakeInflux,
                                                          exporter_for: Any) -> None:
    e = exporter_for(fake.url, linger_s=0.3)
    await e.start()
    sent = []
    for i in range(40):  # the pipeline hands over small batches, often one result
        sent += await observe_all(e, [result(i)], chunk=1)
        await asyncio.sleep(0.005)
    assert await e.flush(5)
    assert fake.accepted() == sent
    assert len(fake.writes) <= 4


async def test_unavailable_answers_are_retried_in_order(fake: FakeInflux,
                                                        exporter_for: Any) -> None:
    script = iter([503, 429, 500])
    fake.answer = lambda lines: next(script, 204)
    fake.headers = {"Retry-After": "0"}
    e = exporter_for(fake.url, batch_size=8)
    sent = await observe_all(e, [result(i) for i in range(30)])
    await e.start()
    assert await e.flush(10)
    assert fake.accepted() == sent  # each once, in observation order
    assert e.failed_attempts == 3 and e.consecutive_failures == 0
    assert e.dead_points == 0 and e.spool.dead_count() == 0


async def test_refused_line_is_isolated_and_buried(fake: FakeInflux, exporter_for: Any) -> None:
    fake.answer = lambda lines: 400 if any("target=poison" in x for x in lines) else 204
    e = exporter_for(fake.url, batch_size=8)
    results = [result(i, target="poison" if i == 13 else "web-home") for i in range(30)]
    sent = await observe_all(e, results)
    await e.start()
    assert await e.flush(10)
    poison = probe_line(results[13])
    assert fake.accepted() == [x for x in sent if x != poison]
    [dead] = e.spool.dead()
    assert (dead.line, dead.status) == (poison, 400)
    assert dead.error.startswith("HTTP 400:") and "refused" in dead.error
    assert (e.poison_batches, e.dead_points) == (1, 1)
    # The queue goes on.
    later = await observe_all(e, [result(i) for i in range(100, 105)])
    assert await e.flush(5)
    assert fake.accepted()[-5:] == later


async def test_auth_failure_waits_for_a_fix_instead_of_burying(fake: FakeInflux,
                                                               exporter_for: Any) -> None:
    script = iter([401, 401, 403, 404])
    fake.answer = lambda lines: next(script, 204)
    e = exporter_for(fake.url)
    sent = await observe_all(e, [result(i) for i in range(10)])
    await e.start()
    assert await e.flush(10)
    assert fake.accepted() == sent
    assert e.failed_attempts == 4 and e.spool.dead_count() == 0


async def test_too_large_is_sent_in_halves(fake: FakeInflux, exporter_for: Any) -> None:
    fake.answer = lambda lines: 413 if len(lines) > 4 else 204
    e = exporter_for(fake.url, batch_size=16)
    sent = await observe_all(e, [result(i) for i in range(10)], chunk=10)
    await e.start()
    assert await e.flush(10)
    assert fake.accepted() == sent and e.spool.dead_count() == 0


async def test_observe_never_waits_for_sqlite(fake: FakeInflux, exporter_for: Any,
                                              tmp_path: Path) -> None:
    e = exporter_for(fake.url)
    await e.start()
    other = sqlite3.connect(tmp_path / "slaguard.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the file
    started = time.monotonic()
    sent = await observe_all(e, [result(i) for i in range(50)])
    assert time.monotonic() - started < 0.1  # the loop went on at once
    await asyncio.sleep(0.2)
    other.execute("COMMIT")
    other.close()
    assert await e.flush(10)
    assert fake.accepted() == sent


async def test_spool_survives_a_restart(fake: FakeInflux, exporter_for: Any,
                                        tmp_path: Path) -> None:
    down = exporter_for(f"http://127.0.0.1:{free_port()}")  # nobody listens
    await down.start()
    sent = await observe_all(down, [result(i) for i in range(12)])
    assert not await down.flush(0.3)
    assert down.failed_attempts > 0
    await down.stop(drain_s=0)
    with sqlite3.connect(tmp_path / "slaguard.db") as db:
        assert db.execute("SELECT COUNT(*) FROM influx_spool").fetchone()[0] == 12
    db.close()

    up = exporter_for(fake.url)  # the next process, same store file
    assert await up.pending() == 12
    await up.start()
    assert await up.flush(10)
    assert fake.accepted() == sent


async def test_observe_after_stop_is_counted_not_hidden(fake: FakeInflux,
                                                        exporter_for: Any) -> None:
    e = exporter_for(fake.url)
    await e.stop()
    e.observe([result(0)])
    assert e.dropped_points == 1


# -- a real VictoriaMetrics going away and coming back -------------------------------------


@contextmanager
def victoria_metrics(binary: str, port: int, data: Path, log: Path) -> Iterator[str]:
    argv = [binary, f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{port}",
            "-search.latencyOffset=0s", "-retentionPeriod=100y"]
    url = f"http://127.0.0.1:{port}"
    with process(argv, f"{url}/health", log):
        yield url


def export(url: str, match: str) -> list[dict[str, Any]]:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=10).read()
    q = urllib.parse.urlencode({"match[]": match})
    with urllib.request.urlopen(f"{url}/api/v1/export?{q}", timeout=10) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line]


def samples(series: list[dict[str, Any]]) -> list[tuple[str, str, int, float]]:
    return [(s["metric"]["service"], s["metric"]["target"], ts, v)
            for s in series for ts, v in zip(s["timestamps"], s["values"], strict=True)]


@pytest.mark.integration
async def test_victoria_metrics_outage_loses_and_doubles_nothing(tmp_path: Path) -> None:
    binary = require_binary("victoria-metrics")
    port, data = free_port(), tmp_path / "vm"
    t0 = (time.time_ns() // 1_000_000) - 3_600_000  # inside the retention, not in the future
    services = ["标书 生成", 'odd "name", k=v \\tail\\']
    results = [result(i, target=f"t{i % 3}", service=services[i % 2], t0=t0)
               for i in range(200)]
    n = 120
    e = InfluxExporter(f"http://127.0.0.1:{port}", tmp_path / "slaguard.db", org="acme",
                       bucket="slaguard", token="t0k", batch_size=25, linger_s=0.02,
                       backoff=FAST)
    try:
        with victoria_metrics(binary, port, data, tmp_path / "vm1.log"):
            await e.start()
            await observe_all(e, results[:n])
            assert await e.flush(30)

        # VictoriaMetrics is gone; results keep arriving and wait on disk.
        await observe_all(e, results[n:])
        await asyncio.sleep(0.5)
        assert e.failed_attempts > 0
        assert await e.pending() == len(results) - n
        with sqlite3.connect(tmp_path / "slaguard.db") as db:
            on_disk = db.execute("SELECT COUNT(*) FROM influx_spool").fetchone()[0]
        db.close()
        assert on_disk == len(results) - n

        with victoria_metrics(binary, port, data, tmp_path / "vm2.log") as url:
            assert await e.flush(30)
            got = samples(export(url, "probe_duration"))
            expected = [(r.service, r.target, r.ts_ms, r.duration_ms / 1000) for r in results]
            assert len(got) == len(results)  # none lost, none doubled
            assert Counter(got) == Counter(expected)  # names with spaces, quotes, '\' exact
            assert e.sent_points == len(results) and e.dead_points == 0

            report = _one_hour_report()
            e.observe_report(report)
            assert await e.flush(10)
            [avail] = export(url, 'slo_availability{service="core"}')
            assert avail["metric"]["title"] == TITLE
            # VictoriaMetrics keeps 12 significant digits.
            assert avail["values"] == [pytest.approx(11 / 12, rel=1e-11)]
            assert avail["timestamps"] == [report.now_ms]
    finally:
        await e.stop(drain_s=0)


async def test_app_ships_results_and_slo_points_to_a_real_victoria_metrics(
        tmp_path: Path) -> None:
    """The wiring: App → pipeline → spool → VictoriaMetrics, and the SLO job's points."""
    from slaguard.app import App
    from slaguard.config import parse_config

    binary = require_binary("victoria-metrics")
    vm_port, app_port = free_port(), free_port()

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    target = web.Application()
    target.router.add_get("/", ok)
    runner, t_port = await serve_local(target)
    with victoria_metrics(binary, vm_port, tmp_path / "vm", tmp_path / "vm.log") as vm:
        cfg, _ = parse_config({
            "version": 1, "storage": {"path": str(tmp_path / "s.db")},
            "server": {"listen": f"127.0.0.1:{app_port}"},
            "services": {"core": {"availability": "99.9%"}},
            "targets": [{"name": "web-home", "service": "core", "kind": "http",
                         "url": f"http://127.0.0.1:{t_port}/", "interval": "1s",
                         "timeout": "500ms"}],
            "exporters": {"influxdb": {"enabled": True, "url": vm, "org": "o",
                                       "bucket": "b", "token": "t"}},
        }, env={})
        app = App(cfg)
        await app.start()
        await asyncio.sleep(2.5)
        await app.evaluate_now()
        await app.stop()
        committed = app.pipeline.committed
        deadline = time.monotonic() + 15
        while True:  # the newest points take a moment to become searchable
            probe = samples(await asyncio.to_thread(export, vm, '{__name__="probe_duration"}'))
            if len(probe) >= committed or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        slo = await asyncio.to_thread(export, vm, '{__name__="slo_availability"}')
    await runner.cleanup()
    assert committed >= 2 and len(probe) == committed
    assert slo and slo[0]["metric"]["service"] == "core"
