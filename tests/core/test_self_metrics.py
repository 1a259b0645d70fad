"""slaguard's metrics about itself move when their cause is forced: an overloaded probe
worker (late starts, overruns), a killed worker (restart), a full record (commit
failures, queue depth), a failing channel (failures, outbox backlog), an evaluation
that cannot record; and slaguard's own rules turn those readings into incidents."""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import slaguard
from alerting import rules
from alerting.api import parse_alertmanager
from alerting.clock import FakeClock
from alerting.notification import Priority
from alerting.service import AlertingService
from exporters.self_metrics import SelfCollector, SelfStats
from slaguard.app import App
from slaguard.config.loader import parse_config
from slaguard.domain import Outcome, ProbeResult
from slaguard.pipeline import ResultPipeline
from slaguard.store import SQLiteStore
from tests.alerting.test_rules import T0, make_config
from tests.conftest import serve_local

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(registry: CollectorRegistry) -> Samples:
    text = generate_latest(registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over the series of ``name`` that carry ``labels`` (and any others)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.1)


def result(ts_ms: int, target: str = "web") -> ProbeResult:
    return ProbeResult(ts_ms=ts_ms, target=target, service="core", location="sh", kind="http",
                       outcome=Outcome.SUCCESS, duration_ms=5)


def fill_up(store: SQLiteStore) -> None:
    """The record's file may not grow any more: SQLite answers SQLITE_FULL ("database or
    disk is full"), as on a full disk, for any commit that needs a new page."""
    with store._lock:
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count={pages}")


def make_room(store: SQLiteStore) -> None:
    with store._lock:
        store._db.execute("PRAGMA max_page_count=1073741823")


# -- probing: an overloaded worker, a killed worker ------------------------------------------


@pytest.fixture
async def slow_site() -> AsyncIterator[str]:
    async def ok(_r: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def slow(_r: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(text="late but ok")

    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_get("/slow", slow)
    runner, port = await serve_local(app)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_an_overloaded_worker_shows_late_starts_overruns_and_restarts(
        tmp_path: Path, slow_site: str) -> None:
    """One worker, one probe slot (max_concurrency 1), four targets every second, three
    of them timing out after 0.9 s: 2.7 s of probing per second for one slot.  Probes
    queue for the slot and start late (the wait is lateness), runs still queued at
    their next slot are skipped (``overrun``), and those that waited past the 1 s
    misfire grace too (``overloaded``).  Killing the worker counts a restart of worker 0."""
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "record.db")},
        "server": {"listen": "127.0.0.1:0"}, "location": "sh",
        "scheduling": {"workers": 1, "max_concurrency": 1, "misfire_grace": "1s"},
        "services": {"core": {"availability": "99.9%"}},
        "targets": [
            {"name": "web", "service": "core", "kind": "http", "url": f"{slow_site}/",
             "interval": "1s", "timeout": "900ms"},
            *({"name": f"slow{i}", "service": "core", "kind": "http",
               "url": f"{slow_site}/slow", "interval": "1s", "timeout": "900ms"}
              for i in range(3))],
    }, env={})
    app = App(cfg, serve_http=False)
    await app.start()
    try:
        assert value(scrape(app.registry), "slaguard_worker_restarts_total", worker="0") == 0

        def late_and_overrun() -> bool:
            s = scrape(app.registry)
            starts = value(s, "slaguard_probe_start_lateness_seconds_count",
                           location="sh", worker="0")
            on_time = value(s, "slaguard_probe_start_lateness_seconds_bucket",
                            location="sh", worker="0", le="0.25")
            skipped = total(s, "slaguard_probes_skipped_total", location="sh", worker="0")
            return starts >= 4 and starts - on_time >= 2 and skipped >= 1

        await until(late_and_overrun, 20, "late starts and overruns from worker 0")
        s = scrape(app.registry)
        assert value(s, "slaguard_probe_start_lateness_seconds_sum", location="sh",
                     worker="0") > 0.5
        # slaguard's own rule reads the same: most recent starts were late or skipped.
        health = app.self_stats.readings()
        assert health.probes_late >= 2 and health.probes_started >= 4

        assert app.pool is not None
        (pid,) = app.pool.pids
        os.kill(pid, signal.SIGKILL)
        await until(lambda: value(scrape(app.registry), "slaguard_worker_restarts_total",
                                  worker="0") == 1, 30, "worker 0 restarted")
        assert app.self_stats.readings().worker_restarts == {"0": 1}
    finally:
        await app.stop()


# -- the record: a full disk ------------------------------------------------------------------


async def test_a_full_record_counts_commit_failures_and_queues_results(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "record.db")
    stats = SelfStats()
    pipeline = ResultPipeline(store, {"web": 1000}, linger_s=0.01, backoff_s=(0.05, 0.2),
                              on_commit=stats.commit_done)
    registry = CollectorRegistry()
    registry.register(SelfCollector(stats, queue_depth=lambda: pipeline.in_memory,
                                    outbox_backlog=lambda: (0, None),
                                    store_path=store.path))
    await pipeline.start()
    try:
        pipeline.submit_many([result(i * 1000) for i in range(10)])
        await pipeline.flush()
        before = scrape(registry)
        assert value(before, "slaguard_store_commit_duration_seconds_count") >= 1
        assert value(before, "slaguard_store_commit_failures_total") == 0
        assert value(before, "slaguard_pipeline_queue_results") == 0
        assert value(before, "slaguard_store_size_bytes", file="db") > 0
        assert value(before, "slaguard_store_size_bytes", file="wal") > 0  # WAL mode

        fill_up(store)
        pipeline.submit_many([result(10_000 + i * 1000) for i in range(3000)])
        await until(lambda: stats.commit_failures >= 2, 10, "two failed commits")
        full = scrape(registry)
        assert value(full, "slaguard_store_commit_failures_total") >= 2
        assert value(full, "slaguard_pipeline_queue_results") == 3000
        assert pipeline.trouble() is not None

        make_room(store)
        await until(lambda: pipeline.pending == 0, 10, "the backlog committed")
        healed = scrape(registry)
        assert value(healed, "slaguard_pipeline_queue_results") == 0
        assert value(healed, "slaguard_store_commit_duration_seconds_count") \
            > value(before, "slaguard_store_commit_duration_seconds_count")
        assert value(healed, "slaguard_store_size_bytes", file="db") + \
            value(healed, "slaguard_store_size_bytes", file="wal") > \
            value(before, "slaguard_store_size_bytes", file="db") + \
            value(before, "slaguard_store_size_bytes", file="wal")
    finally:
        await pipeline.stop()
        store.close()


# -- notifications: a failing channel ----------------------------------------------------------


@pytest.fixture
async def flaky_receiver() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """A webhook receiver answering 500 while ``state["fail"]`` is set."""
    state = {"fail": 1, "received": 0}

    async def hook(_r: web.Request) -> web.Response:
        state["received"] += 1
        return web.Response(status=500 if state["fail"] else 200)

    app = web.Application()
    app.router.add_post("/{name}", hook)
    runner, port = await serve_local(app)
    yield f"http://127.0.0.1:{port}", state
    await runner.cleanup()


async def test_a_failing_channel_counts_failures_and_the_outbox_backlog_ages(
        tmp_path: Path, flaky_receiver: tuple[str, dict[str, int]]) -> None:
    url, state = flaky_receiver
    cfg = make_config(tmp_path / "slaguard.db")
    cfg = cfg.model_copy(update={"channels": {
        name: ch.model_copy(update={"url": f"{url}/{name}"}) for name, ch in cfg.channels.items()
    }})
    clock = FakeClock(T0)
    stats = SelfStats()
    svc = AlertingService.from_config(cfg, clock=clock, on_delivery=stats.delivery)
    stats.known(channels=list(cfg.channels))
    registry = CollectorRegistry()
    registry.register(SelfCollector(stats, queue_depth=lambda: 0,
                                    outbox_backlog=svc.outbox.backlog, store_path=":memory:"))
    await svc.start()
    try:
        assert value(scrape(registry), "slaguard_notification_failures_total",
                     channel="phone") == 0
        svc.incidents.create("core", "down", Priority.P1, "hotline")  # phone, sms, email
        await svc.tick()
        assert state["received"] == 3
        clock.advance(11 * 60_000)
        failing = scrape(registry)
        for channel in ("phone", "sms", "email"):
            assert value(failing, "slaguard_notification_failures_total", channel=channel) == 1
            assert value(failing, "slaguard_notifications_sent_total", channel=channel) == 0
        assert value(failing, "slaguard_outbox_pending_notifications") == 3
        assert value(failing, "slaguard_outbox_oldest_pending_age_seconds") == 660
        for _ in range(2):  # every retry is due by now: two more failed attempts each
            await svc.tick()
            clock.advance(60 * 60_000)
        health = stats.readings(svc.outbox.backlog())
        # (escalation has reached oncall and senior-engineer meanwhile: 1 failure each)
        assert {c: health.channels_failing[c] for c in ("phone", "sms", "email")} == \
            {"phone": 3, "sms": 3, "email": 3}
        assert health.outbox_oldest_age_ms is not None and health.outbox_oldest_age_ms > 600_000

        state["fail"] = 0
        clock.advance(3 * 3600_000)  # every retry due
        await svc.tick()
        healed = scrape(registry)
        assert value(healed, "slaguard_notifications_sent_total", channel="phone") == 1
        assert value(healed, "slaguard_outbox_pending_notifications") == 0
        assert value(healed, "slaguard_outbox_oldest_pending_age_seconds") == 0
        assert stats.readings().channels_failing == {}
    finally:
        await svc.stop()
        svc.close()


# -- evaluation ----------------------------------------------------------------------------------


async def test_an_evaluation_that_cannot_record_counts_as_failed(tmp_path: Path) -> None:
    """The alerting store turns read-only (its own connection), the probe record does not:
    each round computes the report and fails to write alert state, a failure each round."""
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "record.db")},
        "server": {"listen": "127.0.0.1:0"}, "location": "sh",
        "scheduling": {"workers": 0}, "services": {"core": {"availability": "99.9%"}},
        "targets": [{"name": "web", "service": "core", "kind": "http",
                     "url": "http://127.0.0.1:9/", "interval": "1h"}],
    }, env={})
    app = App(cfg, serve_http=False)
    await app.pipeline.start()
    try:
        task = asyncio.create_task(app._evaluate_every(0.05))
        await until(lambda: app.self_stats.evaluation.count >= 2, 30, "two rounds")
        ok = scrape(app.registry)
        assert value(ok, "slaguard_evaluation_failures_total") == 0
        assert value(ok, "slaguard_evaluation_last_success_timestamp_seconds") > T0 / 1000
        with app.alerting.store._lock:  # "attempt to write a readonly database"
            app.alerting.store._db.execute("PRAGMA query_only=ON")
        await until(lambda: app.self_stats.evaluation_failures >= 3, 30, "3 failed rounds")
        failing = scrape(app.registry)
        assert value(failing, "slaguard_evaluation_failures_total") >= 3
        assert value(failing, "slaguard_evaluation_duration_seconds_count") >= 5
        assert app.self_stats.readings().evaluation_failing_rounds >= 3
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await app.stop()


def test_build_info_names_the_version_and_python(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    registry.register(SelfCollector(SelfStats(), queue_depth=lambda: 0,
                                    outbox_backlog=lambda: (0, None),
                                    store_path=str(tmp_path / "none.db")))
    s = scrape(registry)
    assert value(s, "slaguard_build_info", version=slaguard.__version__,
                 python=platform.python_version()) == 1
    assert value(s, "slaguard_store_size_bytes", file="db") == 0  # no file (yet)
    assert not [k for k in s if k[0].startswith("slaguard_heartbeat")]  # none configured


# -- slaguard's own rules ---------------------------------------------------------------------


def test_self_rules_fire_on_their_thresholds_and_not_below() -> None:
    """Thresholds (rules.SelfThresholds): > 10 % of ≥ 10 recent starts late; 3 rounds;
    oldest notification > 10 min; 3 failed attempts in a row; 3 restarts in 15 min."""
    settings = rules.RuleSettings()
    below = rules.SelfReadings(probes_started=10, probes_late=1, evaluation_failing_rounds=2,
                               outbox_pending=1, outbox_oldest_age_ms=600_000,
                               channels_failing={"sms": 2}, worker_restarts={"0": 2})
    assert rules.self_conditions(below, settings) == []
    above = rules.SelfReadings(probes_started=10, probes_late=2, evaluation_failing_rounds=3,
                               outbox_pending=4, outbox_oldest_age_ms=600_001,
                               channels_failing={"sms": 3, "email": 1},
                               worker_restarts={"0": 3, "1": 1})
    fired = {(c.rule, c.subject): c for c in rules.self_conditions(above, settings)}
    assert sorted(fired) == [("channel_failing", "sms"), ("evaluation_failing", "evaluation"),
                             ("outbox_backlog", "outbox"), ("probes_late", "probes"),
                             ("worker_restarting", "worker-0")]
    assert {c.service for c in fired.values()} == {"slaguard"}
    assert fired[("evaluation_failing", "evaluation")].priority is Priority.P2
    assert fired[("channel_failing", "sms")].priority is Priority.P3
    for c in fired.values():
        assert "Runbook: " in c.summary and "处理：" in c.summary, c.rule
    # Too few starts say nothing: 5 of 9 late is not judged.
    assert rules.self_conditions(rules.SelfReadings(probes_started=9, probes_late=5),
                                 settings) == []


def test_without_readings_self_alerts_are_carried_over_not_resolved() -> None:
    settings = rules.RuleSettings(clear_after_ms=0)
    sick = rules.SelfReadings(evaluation_failing_rounds=3)
    first = rules.evaluate(None, [], {}, T0, settings, sick)
    assert [e.alert.rule for e in first.events] == ["evaluation_failing"]
    carried = rules.evaluate(None, [], first.alerts, T0 + 60_000, settings)
    assert carried.events == () and carried.alerts == first.alerts
    healed = rules.evaluate(None, [], first.alerts, T0 + 120_000, settings,
                            rules.SelfReadings())
    assert [e.kind for e in healed.events] == [rules.EventKind.RESOLVED]


def test_slaguard_and_prometheus_raise_one_incident_for_the_same_trouble(tmp_path: Path
                                                                         ) -> None:
    """slaguard's own rule opens slaguard/evaluation_failing; the Prometheus alert for
    the same trouble (its ``rule`` label) joins that incident instead of opening another."""
    svc = AlertingService.from_config(make_config(tmp_path / "slaguard.db"),
                                      clock=FakeClock(T0))
    try:
        out = svc.evaluate(None, [], rules.SelfReadings(evaluation_failing_rounds=3))
        (event,) = out.events
        assert event.alert.incident_key == "slaguard/evaluation_failing"
        with svc.store.reading() as tx:
            own = tx.open_incident("slaguard/evaluation_failing")
        assert own is not None and own.priority is Priority.P2
        changes = parse_alertmanager(_am_payload())
        (joined,) = svc.apply(changes)
        assert joined is not None and joined.id == own.id
    finally:
        svc.close()


def _am_payload() -> dict[str, Any]:
    labels = {"alertname": "SlaguardEvaluationFailing", "severity": "page", "priority": "P2",
              "service": "slaguard", "rule": "evaluation_failing",
              "instance": "slaguard:9108", "job": "slaguard"}
    return {"version": "4", "status": "firing", "receiver": "slaguard", "groupKey": "{}",
            "groupLabels": {}, "commonLabels": labels, "commonAnnotations": {},
            "externalURL": "http://am", "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": labels,
                        "annotations": {"summary": "SLO 评估失败 / slaguard evaluation failing"},
                        "startsAt": "2026-10-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus/graph", "fingerprint": ""}]}
