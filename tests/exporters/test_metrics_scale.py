"""/metrics at scale: the text path equals prometheus_client's own rendering byte for
byte, gzip when asked, the loop answers while a big scrape renders, ``exclude`` and
the documented series count per target × location.  Timings are in
bench/metrics_scrape.py, not asserted here."""

from __future__ import annotations

import ast
import asyncio
import gzip
import re
import threading
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

import exporters.browser_metrics
import exporters.prometheus
from exporters.exposition import accepts_gzip, count, render, value
from exporters.prometheus import (
    PROBE_FAMILIES,
    Excluding,
    ProbeCollector,
    SloCollector,
    StoreCollector,
)
from slaguard.access import SCRAPER as SCRAPER_ROLE
from slaguard.access import Principals
from slaguard.config.validate import METRIC_FAMILIES
from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.server import ServerDeps, make_app
from slaguard.state import LiveState
from slaguard.store import SQLiteStore

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SCRAPER = "scraper-token"
T0 = 1_790_784_000_000
HTTPS_PHASES = {"resolve": 2, "connect": 5, "tls": 11, "processing": 180, "transfer": 9}


def result(target: str, location: str, i: int, *, kind: str = "http",
           outcome: Outcome = Outcome.SUCCESS, **kw: Any) -> ProbeResult:
    fields: dict[str, Any] = {
        "phases_ms": HTTPS_PHASES, "status_code": 200, "cert_expiry": 1_830_000_000,
        "duration_ms": 207 + i, "duration_us": 207_000 + i * 1000 + 123}
    fields.update(kw)
    return ProbeResult(ts_ms=T0 + i * 15_000, target=target, service="core",
                       location=location, kind=kind, outcome=outcome, **fields)


def varied_state(busy: int = 1_000_000) -> LiveState:
    """Every branch of the renderer: outcomes, kinds, escaping, counts past 10⁶."""
    state = LiveState()
    odd = 'we"ird\\name\nline 标书'
    state.observe([
        result("web", "sh", 0), result("web", "bj", 1, outcome=Outcome.FAILURE,
                                       status_code=503, duration_us=None,
                                       error=ProbeError(ErrorClass.HTTP_STATUS, "503")),
        result("web", "gz", 2, outcome=Outcome.UNKNOWN, phases_ms={}, status_code=None,
               cert_expiry=None, error=ProbeError(ErrorClass.SELF_CHECK, "no network")),
        result(odd, "sh", 3, duration_ms=3_000_000, duration_us=None),
        result("100% up", "sh", 3), result("nul\x00%s", "sh", 3),  # % and the separator
        result("up", "sh", 4, kind="upload", phases_ms={"send": 2000, "transfer": 3},
               bytes=10_485_760),
        result("bak", "sh", 5, kind="freshness", status_code=None,
               recovery_point_ms=T0 - 3_600_000),
        result("bak", "bj", 6, kind="freshness", recovery_point_ms=T0 - 1),
    ])
    # 10⁶ results on one series: counts from 10⁶ on print as Go does (1e+06).
    state.observe([result("busy", "sh", 7, duration_ms=40)] * busy)
    return state


def probe_registry(state: LiveState, exclude: Iterable[str] = ()) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(ProbeCollector(state, exclude))
    return reg


def test_text_path_is_generate_latest_byte_for_byte() -> None:
    state = varied_state()
    reg = probe_registry(state)
    text = render(reg)
    assert text == generate_latest(reg)
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    assert {f.name for f in families.values()} >= {"probe_success", "slaguard_probe_results"}
    assert b'slaguard_probe_results_total{kind="http",location="sh",outcome="success",' \
           b'service="core",target="busy"} 1e+06' in text
    assert 'target="we\\"ird\\\\name\\nline 标书"' in text.decode()
    # Only the changed series are rendered again; the result is still the same bytes.
    state.observe([result("web", "sh", 9, outcome=Outcome.FAILURE, status_code=500)])
    again = render(reg)
    assert again == generate_latest(reg) and again != text
    assert b'probe_http_status_code{kind="http",location="sh",service="core",' \
           b'target="web"} 500.0' in again


def test_prerendered_series_are_the_same_bytes_and_a_scrape_renders_only_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What the app renders ahead every second is what a scrape would have rendered; a
    scrape after it renders only the series that changed since."""
    state = varied_state(busy=10)
    collector = ProbeCollector(state)
    reg = CollectorRegistry()
    reg.register(collector)
    collector.prerender()
    state.observe([result("web", "sh", 9, outcome=Outcome.FAILURE, status_code=500)])
    rendered: list[str] = []
    real = exporters.prometheus._series_lines

    def counting(text: Any, st: Any, *args: Any) -> Any:
        rendered.append(st.latest.target)
        return real(text, st, *args)

    monkeypatch.setattr(exporters.prometheus, "_series_lines", counting)
    assert render(reg) == generate_latest(reg)
    assert rendered == ["web"]  # the one series changed after the prerender


def test_value_and_count_print_what_float_to_go_string_prints() -> None:
    floats = [0.0, -0.0, 0.001, 0.5, 1.0, 123456.0, 123456.789, 999999.999, 1e6, 1234567.0,
              1.79e9, 1_790_784_000.123, 1e-05, 1.5e-7, -3.25, -1234567.0, 1e22,
              float("inf"), float("-inf"), float("nan")]
    floats += [ms / 1000 for ms in range(0, 2_000_000, 997)]
    assert [value(x) for x in floats] == [floatToGoString(x) for x in floats]
    ints = [*range(0, 2000), 999_999, 1_000_000, 1_200_001, 10**12]
    assert [count(n) for n in ints] == [floatToGoString(float(n)) for n in ints]


@pytest.mark.parametrize(("header", "gz"), [
    ("gzip", True), ("gzip, deflate, br", True), ("deflate, gzip;q=0.5", True),
    ("GZip", True), ("*", True), ("x-gzip", True), ("", False), ("identity", False),
    ("gzip;q=0", False), ("deflate, *;q=0", False), ("br", False), ("gzip;q=0, *", False),
])
def test_accept_encoding(header: str, gz: bool) -> None:
    assert accepts_gzip(header) is gz


def names(text: bytes) -> set[str]:
    return {f.name for f in text_string_to_metric_families(text.decode())}


def test_exclude_leaves_the_families_out() -> None:
    state = varied_state(busy=1)
    reg = probe_registry(state, ["slaguard_probe_duration_seconds",
                                 "slaguard_probe_results_total"])
    text = render(reg)
    assert text == generate_latest(reg)
    assert b"slaguard_probe_duration_seconds" not in text
    assert b"slaguard_probe_results_total" not in text
    assert "probe_success" in names(text)
    # Any other collector, through Excluding (a counter by its _total name).
    reg = CollectorRegistry()
    pipeline = type("P", (), {"pending": 3, "dropped": 1, "trouble": lambda self: None})()
    reg.register(Excluding(StoreCollector(pipeline), ["slaguard_store_dropped_results_total"]))
    assert names(render(reg)) == {"slaguard_store_uncommitted_results",
                                  "slaguard_store_commit_failing"}


def documented_table() -> dict[str, dict[str, int]]:
    """The series table in exporters.prometheus's docstring: family → kind → series."""
    doc = exporters.prometheus.__doc__ or ""
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in doc.splitlines() if line.startswith("| ") and "---" not in line]
    kinds = rows[0][1:]
    return {r[0]: dict(zip(kinds, map(int, r[1:]), strict=True)) for r in rows[1:]}


def test_series_per_target_and_location_as_documented() -> None:
    """Hand count for http: success, duration, 5 phases, status, cert, last timestamp,
    3 outcome counters, 13 bounds + +Inf + _sum + _count = 1+1+5+1+1+1+3+16 = 29."""
    table = documented_table()
    assert table["total"] == {"http": 29, "upload": 27, "freshness": 31}
    state = LiveState()
    state.observe([
        result("page", "sh", 0),
        result("up", "sh", 1, kind="upload", phases_ms={"send": 2000, "transfer": 3},
               bytes=10_485_760),
        result("bak", "sh", 2, kind="freshness", recovery_point_ms=T0 - 60_000),
    ])
    reg = CollectorRegistry()
    reg.register(ProbeCollector(state))
    reg.register(SloCollector(state, lambda: T0))
    rendered: dict[str, dict[str, int]] = {}
    for fam in text_string_to_metric_families(render(reg).decode()):
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        for s in fam.samples:
            kind = s.labels["kind"]
            rendered.setdefault(name, {}).setdefault(kind, 0)
            rendered[name][kind] += 1
    for family, per_kind in table.items():
        if family == "total":
            continue
        assert {k: rendered.get(family, {}).get(k, 0) for k in per_kind} == per_kind, family
    totals = {k: sum(v.get(k, 0) for v in rendered.values()) for k in table["total"]}
    assert totals == table["total"]


def families_defined_in_exporters() -> set[str]:
    """Every family a collector in exporters/ defines, by its ``# TYPE`` name."""
    found = {name for name, _, _ in PROBE_FAMILIES} | set(exporters.browser_metrics.FAMILIES)
    for path in Path(exporters.prometheus.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            f = node.func
            fn = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) \
                else ""
            first = node.args[0]
            if fn.endswith("MetricFamily") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                found.add(first.value + ("_total" if fn.startswith("Counter") else ""))
    return found


def test_exclude_validation_knows_every_family_slaguard_exports() -> None:
    assert families_defined_in_exporters() == METRIC_FAMILIES


def big_state(targets: int) -> LiveState:
    state = LiveState()
    state.observe([result(f"t{i:04d}", loc, i % 40,
                          outcome=Outcome.FAILURE if i % 17 == 0 else Outcome.SUCCESS)
                   for i in range(targets) for loc in ("sh", "bj", "gz")])
    return state


class Gate(Collector):
    """Blocks the scrape's collection until the test opens it: if rendering ran on the
    event loop, /healthz could not answer meanwhile (the test would time out)."""

    def __init__(self) -> None:
        self.entered, self.open = threading.Event(), threading.Event()

    def collect(self) -> Iterable[Metric]:
        self.entered.set()
        if not self.open.wait(10):
            raise TimeoutError("the gate was never opened")
        g = GaugeMetricFamily("gate_open", "1 once the test let the scrape through")
        g.add_metric([], 1.0)
        return [g]


async def scrape_client(tmp_path: Path, reg: CollectorRegistry,
                        aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    deps = ServerDeps(store=SQLiteStore(tmp_path / "s.db"), registry=reg, started_ms=0,
                      now_ms=lambda: 5_000, principals=Principals([(SCRAPER, SCRAPER_ROLE)]))
    return await aiohttp_client(make_app(deps), headers={"Authorization": f"Bearer {SCRAPER}"},
                                auto_decompress=False)


async def test_gzip_when_accepted_and_the_loop_answers_during_a_scrape(
        tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    reg = probe_registry(big_state(1000))  # 3 000 series, ~87 000 lines
    gate = Gate()
    reg.register(gate)
    client = await scrape_client(tmp_path, reg, aiohttp_client)
    scrape = asyncio.create_task(client.get("/metrics", headers={"Accept-Encoding": "gzip"}))
    assert await asyncio.to_thread(gate.entered.wait, 10)
    health = await asyncio.wait_for(client.get("/healthz"), 5)  # while /metrics is held
    assert health.status == 200 and not scrape.done()
    gate.open.set()
    resp = await asyncio.wait_for(scrape, 30)
    assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Vary"] == "Accept-Encoding"
    zipped = await resp.read()
    body = gzip.decompress(zipped)
    assert body == generate_latest(reg) and len(zipped) < len(body) // 5
    assert len(re.findall(rb"^probe_success\{", body, re.M)) == 3000
    plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert await plain.read() == body


async def test_the_app_leaves_out_the_families_the_configuration_excludes(
        tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> None:
    """exporters.prometheus.exclude reaches every collector the app registers: a probe
    family, an SLO family and a self family."""
    from slaguard.app import App
    from slaguard.config import parse_config
    from tests.conftest import api_config

    raw = api_config(tmp_path, "staff")
    raw["exporters"] = {"prometheus": {"exclude": [
        "slaguard_probe_duration_seconds", "slaguard_slo_objective_ratio",
        "slaguard_build_info"]}}
    cfg, _ = parse_config(raw, env={})
    app = App(cfg, serve_http=False)
    await app.start(schedule=False)
    client = await aiohttp_client(app.web_app())
    try:
        await app.run_once("web")
        await app.evaluate_now()
        resp = await client.get("/metrics", headers={"Authorization": "Bearer staff"})
        text = await resp.text()
    finally:
        await app.stop()
    assert resp.status == 200 and 'probe_duration_seconds{kind="http"' in text
    for family in ("slaguard_probe_duration_seconds", "slaguard_slo_objective_ratio",
                   "slaguard_build_info"):
        assert f"# TYPE {family} " not in text, family
    assert "# TYPE slaguard_store_uncommitted_results gauge" in text  # the rest stays
