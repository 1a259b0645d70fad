"""The composition root: the one place that wires concrete classes together."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import signal
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

import slo
from alerting.api import AlertingApi, register_routes
from alerting.incidents import compensation_records
from alerting.service import AlertingService
from alerting.store import AlertingStore
from capacity.api import CapacityApi
from capacity.api import add_routes as add_capacity_routes
from capacity.job import CapacityScheduler
from capacity.runner import CapacityRunner
from capacity.runner import Settings as CapacitySettings
from capacity.store import CapacityStore
from compensation import portal
from compensation.archive import StatementArchive
from compensation.claims import ClaimService, ClaimStore
from compensation.claims_api import ClaimsApi
from compensation.claims_api import register_routes as register_claim_routes
from compensation.lifecycle import MonthlyStatementJob, StatementLifecycle, run_every
from compensation.statements import imported_incidents, statement_from_report
from compensation.support import SupportDesk, SupportStore
from compensation.support_api import SupportApi
from compensation.support_api import add_routes as add_support_routes
from exporters.browser_metrics import BrowserCollector
from exporters.capacity_metrics import CapacityCollector
from exporters.influxdb import InfluxExporter
from exporters.journey_metrics import JourneyCollector
from exporters.prometheus import (
    Excluding,
    IncidentCollector,
    ProbeCollector,
    SloCollector,
    StoreCollector,
)
from exporters.self_metrics import SelfCollector, SelfStats
from exporters.support_metrics import SupportCollector
from probes import PROBES, close_connectors
from probes.base import ProbeContext, ProbeFn, wall_ms
from probes.browser import BrowserPool, close_browser
from slaguard import eventloop, evidence_api, statuspage, workers
from slaguard.access import Principals
from slaguard.config import Config
from slaguard.config.calendar import load_calendar
from slaguard.config.schema import host_port
from slaguard.domain import ProbeResult
from slaguard.errors import StoreError
from slaguard.evaluation import Evaluator
from slaguard.evidence import EvidenceStore
from slaguard.heartbeat import Heartbeat
from slaguard.pipeline import ResultPipeline, Sink
from slaguard.scheduler import ProbeObserver, ProbeScheduler, SelfCheck
from slaguard.server import ListenError, ServerDeps, make_app, make_internal_app, serve
from slaguard.state import LiveState
from slaguard.store import SQLiteStore
from slaguard.units import to_ms

log = logging.getLogger(__name__)


def intervals_ms(cfg: Config) -> dict[str, int]:
    return {t.name: to_ms(t.interval) for t in cfg.targets}


def targets_for(cfg: Config, location: str) -> list[Any]:
    return [t for t in cfg.targets if t.locations is None or location in t.locations]


def _evaluator(cfg: Config, store: SQLiteStore, records: AlertingStore) -> Evaluator:
    return Evaluator(cfg, store, load_calendar(cfg), maintenance=records.maintenance_windows,
                     incidents=lambda period: compensation_records(records.list_incidents(period)),
                     imported=imported_incidents(cfg))


@contextmanager
def evaluator_for(cfg: Config) -> Iterator[Evaluator]:
    """An evaluator over the record, for one-shot commands (report, statement)."""
    if cfg.storage.path != ":memory:" and not Path(cfg.storage.path).exists():
        # Reporting on a record that is not there would print 100 % for everything.
        raise StoreError(f"no record at {cfg.storage.path} (storage.path; relative paths "
                         "are beside the config file)")
    store = SQLiteStore(cfg.storage.path)
    records = AlertingStore(cfg.storage.path)
    try:
        yield _evaluator(cfg, store, records)
    finally:
        records.close()
        store.close()


def _self_check(url: str | None) -> SelfCheck:
    if url is None:
        return SelfCheck(None)

    async def check() -> bool:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as s, s.get(url) as resp:
            return resp.status < 500

    return SelfCheck(check)



def evidence_root(storage_path: str) -> Path:
    """Failed browser checks' evidence lives beside the record (slaguard.db →
    slaguard.db.evidence/); a record in memory keeps it in a temporary folder."""
    if storage_path == ":memory:":
        return Path(tempfile.mkdtemp(prefix="slaguard-evidence-"))
    return Path(storage_path).with_name(Path(storage_path).name + ".evidence")

@dataclass(frozen=True)
class ProbeWiring:
    """How probe schedulers are wired, in the main process or (pickled) in a
    probe worker process, which wires its own share of the targets."""

    cfg: Config
    locations: tuple[str, ...]
    probes: Mapping[str, ProbeFn]
    options: Mapping[str, dict[str, Any]]  # probe context options per location
    log_level: int = logging.INFO

    def pairs(self) -> list[tuple[str, str]]:
        return [(t.name, loc) for loc in self.locations for t in targets_for(self.cfg, loc)]

    @property
    def worker_count(self) -> int:
        """``scheduling.workers``, but never more workers than (target, location) pairs."""
        return min(self.cfg.scheduling.workers, max(1, len(self.pairs())))

    def assignment(self) -> dict[tuple[str, str], int]:
        return workers.assign(self.pairs(), self.worker_count)

    def schedulers(self, worker: int | None, submit: workers.Submit,
                   observer: ProbeObserver | None = None) -> list[ProbeScheduler]:
        """One scheduler per location, over all targets or over one worker's share;
        ``observer`` is told how late probes start (slaguard's own metrics)."""
        share = self.assignment() if worker is not None else None
        sched = self.cfg.scheduling
        return [
            ProbeScheduler(
                [t for t in targets_for(self.cfg, loc)
                 if share is None or share[(t.name, loc)] == worker],
                loc, self.probes, submit,
                max_concurrency=sched.max_concurrency, misfire_grace=sched.misfire_grace,
                self_check=_self_check(sched.self_check_url),
                ctx=ProbeContext(location=loc, options=dict(self.options.get(loc, {}))),
                observer=observer, worker="main" if worker is None else str(worker),
            )
            for loc in self.locations
        ]


def probe_worker(wiring: ProbeWiring, index: int, sock: socket.socket, schedule: bool) -> None:
    """A probe worker process's main (see slaguard.workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the main process stops us in order
    logging.basicConfig(level=wiring.log_level,
                        format=f"%(asctime)s %(levelname)s probe-worker-{index} %(name)s: "
                               "%(message)s")
    if wiring.log_level > logging.DEBUG:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    eventloop.run(workers.serve(sock, functools.partial(wiring.schedulers, index), schedule))


def _bound(runner: web.AppRunner | None) -> str | None:
    if runner is None or not runner.addresses:
        return None
    host, port = runner.addresses[0][:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class App:
    cfg: Config
    # Locations this process probes as; a real deployment has one, the demo three.
    locations: Sequence[str] = ()
    probes: Mapping[str, ProbeFn] = field(default_factory=lambda: dict(PROBES))
    probe_options: dict[str, Any] = field(default_factory=dict)
    # Loopback source address per simulated location (the demo).
    source_addresses: Mapping[str, str] = field(default_factory=dict)
    serve_http: bool = True
    # The file cfg came from (`slaguard run -c`): notifications name it in the ack command.
    config_path: str | None = None

    def __post_init__(self) -> None:
        self.locations = list(self.locations) or [self.cfg.location]
        self.store = SQLiteStore(self.cfg.storage.path)
        self.state = LiveState()
        latest = self.store.latest()
        self.state.restore(latest)
        # The last sign of life before this start: silence since is our own absence.
        self.last_seen_ms = max((r.ts_ms for r in latest), default=None)
        # slaguard's own metrics and the readings its own alert rules run on.
        self.self_stats = SelfStats()
        self.self_stats.known(channels=list(self.cfg.channels))
        self.alerting = AlertingService.from_config(self.cfg, config_path=self.config_path,
                                                    on_delivery=self.self_stats.delivery)
        self.evaluator = _evaluator(self.cfg, self.store, self.alerting.store)
        self.archive = StatementArchive(self.cfg.storage.path)
        self.statements = StatementLifecycle(self.evaluator, self.archive)
        self.support = SupportDesk.from_config(self.cfg, SupportStore(self.cfg.storage.path),
                                               self.evaluator.calendar)
        self.claims = ClaimService(ClaimStore(self.cfg.storage.path), self.statements, wall_ms)
        self.statement_job = MonthlyStatementJob(self.statements)
        # Load tests run on purpose (capacity/): Locust in its own processes, one run at
        # a time; due jobs start on their cron (start()), others through the API.
        self.capacity_store = CapacityStore(self.cfg.storage.path)
        self.capacity = CapacityScheduler(CapacityRunner(
            CapacitySettings.from_config(self.cfg, self.config_path), self.capacity_store))
        self.registry = CollectorRegistry(auto_describe=True)
        exclude = self.cfg.exporters.prometheus.exclude  # families left out of /metrics
        self.probe_collector: ProbeCollector | None = None
        if self.cfg.exporters.prometheus.enabled:
            self.probe_collector = ProbeCollector(self.state, exclude)
            self.registry.register(self.probe_collector)
            for collector in (SloCollector(self.state, wall_ms),
                              IncidentCollector(self.alerting.store, self.cfg.timezone, wall_ms),
                              SupportCollector(self.support, wall_ms),
                              JourneyCollector(self.state), BrowserCollector(self.state),
                              CapacityCollector(self.capacity_store)):
                self.registry.register(Excluding(collector, exclude))
        sinks: list[Sink] = [self.state]
        self.influx: InfluxExporter | None = None
        if self.cfg.exporters.influxdb.enabled:
            self.influx = InfluxExporter.from_config(self.cfg.exporters.influxdb,
                                                     self.cfg.storage.path)
            if self.cfg.storage.path != ":memory:":
                self.influx.feed_from(self.store)
            sinks.append(self.influx)
        self.pipeline = ResultPipeline(self.store, intervals_ms(self.cfg), sinks=sinks,
                                       buffer_results=self.cfg.storage.buffer_results,
                                       spill_dir=self.cfg.storage.spill_dir,
                                       on_commit=self.self_stats.commit_done)
        self.registry.register(Excluding(StoreCollector(self.pipeline), exclude))
        self.registry.register(Excluding(SelfCollector(
            self.self_stats, queue_depth=lambda: self.pipeline.in_memory,
            outbox_backlog=self.alerting.outbox.backlog, store_path=self.cfg.storage.path),
            exclude))
        self.evidence = EvidenceStore(evidence_root(self.cfg.storage.path))
        # Shared by every location's context; pickled into a worker they stay shared:
        # one evidence store and one Chromium per process.
        self.probe_options.setdefault("evidence", self.evidence)
        self.probe_options.setdefault("browser_pool", BrowserPool())
        self.wiring = ProbeWiring(self.cfg, tuple(self.locations), self.probes,
                                  {loc: self._options(loc) for loc in self.locations},
                                  logging.getLogger().getEffectiveLevel())
        # Probes run in worker processes (scheduling.workers), or here when 0.
        self.schedulers: list[ProbeScheduler] = []
        self.pool: workers.WorkerPool | None = None
        if self.cfg.scheduling.workers:
            owners = self.wiring.assignment()
            self.pool = workers.WorkerPool(
                self.wiring.worker_count, functools.partial(probe_worker, self.wiring),
                self.pipeline.submit_many, lambda target, loc: owners[(target, loc)],
                observer=self.self_stats)
            self.self_stats.known(workers=self.wiring.worker_count)
        else:
            self.schedulers = self.wiring.schedulers(None, self.pipeline.submit,
                                                     self.self_stats)
        self.heartbeat: Heartbeat | None = None
        self._started_mono = time.monotonic()
        self.runner: web.AppRunner | None = None
        self.internal_runner: web.AppRunner | None = None
        self.started_ms = wall_ms()
        self._tasks: list[asyncio.Task[None]] = []

    def _options(self, location: str) -> dict[str, Any]:
        options = dict(self.probe_options)
        if location in self.source_addresses:
            options["local_addr"] = (self.source_addresses[location], 0)
        return options

    @property
    def url(self) -> str | None:
        """Where the HTTP server listens, as bound (``server.listen`` may say port 0)."""
        return _bound(self.runner)

    @property
    def internal_url(self) -> str | None:
        """Where ``server.internal_listen`` listens, as bound; None when it is not set."""
        return _bound(self.internal_runner)

    async def run_once(self, target: str, location: str | None = None) -> ProbeResult:
        """Probe ``target`` from ``location`` (default: the first) now; the result
        is recorded like a scheduled one."""
        loc = location or self.locations[0]
        if self.pool is not None:
            return await self.pool.run_once(target, loc)
        for s in self.schedulers:
            if s.location == loc:
                return await s.run_once(target)
        raise KeyError(f"not a location of this process: {loc!r}")

    def _server_deps(self) -> ServerDeps:
        return ServerDeps(store=self.store, registry=self.registry, started_ms=self.started_ms,
                          now_ms=wall_ms, evaluator=self.evaluator,
                          trouble=self.pipeline.trouble,
                          principals=Principals.from_config(self.cfg),
                          capacity_windows=self.capacity_store.windows)

    def web_app(self) -> web.Application:
        app = make_app(self._server_deps())
        register_routes(app, AlertingApi(self.alerting, self.cfg.server.api_token,
                                         self.cfg.timezone, self.cfg.services.keys()))
        statuspage.register_routes(app, statuspage.StatusPage(
            self.evaluator, self.state, self.alerting.store, now_ms=wall_ms))
        register_claim_routes(app, ClaimsApi(self.claims, self.statements))
        add_support_routes(app, SupportApi(self.support, wall_ms))
        add_capacity_routes(app, CapacityApi(self.capacity_store, self.capacity))
        portal.register_routes(app, portal.Portal(
            self.evaluator, statements=self.statements.body,
            claims=self.claims, now_ms=wall_ms))
        evidence_api.register_routes(app, self.evidence)
        return app

    async def evaluate_now(self) -> None:
        """Evaluate this month to date (off the loop: probes keep their timing)."""
        await self.pipeline.flush()
        now = wall_ms()
        report = await asyncio.to_thread(self.evaluator.current, now)
        self.state.slo_report = report
        # Pages first: nothing computed for the gauges below may hold back an alert.
        # This round's report exists: evaluation is not failing, whatever came before.
        await asyncio.to_thread(self._alert, report, evaluated=True)
        self.state.exposure = await asyncio.to_thread(self._exposure, report, now)
        if self.influx is not None:
            self.influx.observe_report(report)
        await self._tell_rejected()

    def _alert(self, report: slo.Report | None, *, evaluated: bool) -> None:
        """The alert rules, slaguard's own included (in a thread: SQLite)."""
        health = self.self_stats.readings(self.alerting.outbox.backlog())
        if evaluated:
            health = dataclasses.replace(health, evaluation_failing_rounds=0)
        self.alerting.evaluate(report, self.state.snapshot(), health)

    def health(self) -> str | None:
        """Why slaguard is not healthy (None: it is): the record commits, an evaluation
        succeeded lately, results arrive.  The heartbeat is sent only while None."""
        trouble = self.pipeline.trouble()
        if trouble is not None:
            return trouble
        now = time.monotonic()
        every = self.cfg.scheduling.evaluate_every.total_seconds()
        evaluated = self.self_stats.last_evaluation_ok_mono or self._started_mono
        if now - evaluated > max(3 * every, 60.0):
            return f"evaluation: no successful round for {int(now - evaluated)} s"
        shortest = min(intervals_ms(self.cfg).values(), default=None)
        if shortest is not None:
            arrived = self.pipeline.last_submit or self._started_mono
            # Three intervals and the misfire grace: a skipped run arrives as unknown too.
            allowed = 3 * shortest / 1000 + self.cfg.scheduling.misfire_grace.total_seconds()
            if now - arrived > max(allowed, 30.0):
                return f"probing: no result for {int(now - arrived)} s"
        return None

    async def _tell_rejected(self) -> None:
        """Records the evaluation left out (``slaguard.records``), as slaguard's own alert."""
        await asyncio.to_thread(self.alerting.records_rejected, self.evaluator.rejected())

    def _exposure(self, report: slo.Report, now_ms: int) -> dict[str, Decimal]:
        return {c.id: statement_from_report(self.evaluator, report, c, now_ms).credits.total
                for c in self.cfg.customers}

    async def _evaluate_every(self, seconds: float) -> None:
        unrecorded: str | None = None  # why alert state could not be committed, this episode
        while True:
            started = time.perf_counter()
            try:
                await self.evaluate_now()
                self.self_stats.evaluation_done(time.perf_counter() - started, True)
                if unrecorded is not None:
                    log.info("alert state is recorded again")
                unrecorded = None
            except sqlite3.OperationalError as e:
                self.self_stats.evaluation_done(time.perf_counter() - started, False)
                # The record cannot commit (a full disk): /healthz, the store gauges and the
                # generated SlaguardRecordNotCommitting rule say so; one warning an episode.
                if unrecorded is None:
                    log.warning("alert state cannot be recorded (%s); evaluating again every "
                                "round until it can", e)
                unrecorded = str(e)
            except Exception:
                log.exception("SLO evaluation failed; the gauges keep their last values")
                self.self_stats.evaluation_done(time.perf_counter() - started, False)
                # Rules that need no report (probe down, TLS, upload, slaguard's own) still run.
                try:
                    await asyncio.to_thread(self._alert, None, evaluated=False)
                    await self._tell_rejected()
                except Exception:
                    log.exception("alert rules failed too; trying again next round")
            await asyncio.sleep(seconds)

    async def _prerender_every(self, collector: ProbeCollector, seconds: float) -> None:
        """Keeps /metrics cheap: the series that changed are rendered each second, off the
        loop, so a scrape renders only the last second's changes."""
        while True:
            try:
                await asyncio.to_thread(collector.prerender)
            except Exception:  # a scrape renders what this could not
                log.exception("rendering /metrics ahead failed; scrapes render it instead")
            await asyncio.sleep(seconds)

    async def start(self, schedule: bool = True) -> None:
        await self.pipeline.start()
        if self.influx is not None:  # also ships what the last run left in the spool
            await self.influx.start()
        # Catches up on escalations and sends due during downtime; the downtime itself
        # is our monitoring gap, told once, never a probe's silence.
        await self.alerting.start(last_seen_ms=self.last_seen_ms)
        if self.serve_http:
            server = self.cfg.server
            try:
                self.runner = await serve(self.web_app(), server.host, server.port)
                if server.internal_listen:
                    self.internal_runner = await serve(
                        make_internal_app(self._server_deps()),
                        *host_port(server.internal_listen), "server.internal_listen")
            except ListenError:  # a port in use: close what started, leave nothing running
                await self.stop()
                raise
            log.info("listening on %s/", self.url)
            if self.internal_url:
                log.info("/metrics and /healthz without a token on %s/", self.internal_url)
            if self.probe_collector is not None:
                self._tasks.append(asyncio.create_task(
                    self._prerender_every(self.probe_collector, 1.0)))
        if self.pool is not None:
            await self.pool.start(schedule)
        if schedule:
            for s in self.schedulers:
                s.start()
            every = self.cfg.scheduling.evaluate_every.total_seconds()
            self._tasks.append(asyncio.create_task(self._evaluate_every(every)))
            # Freezes last month's statements on the 5th working day (idempotent).
            self._tasks.append(asyncio.create_task(run_every(self.statement_job, 3600, wall_ms)))
            await self.capacity.start()
            await self._start_heartbeat()

    async def _start_heartbeat(self) -> None:
        """The dead man's switch (``heartbeat.url``): only while this process schedules."""
        hb = self.cfg.heartbeat
        if hb.url is None:
            return
        self.heartbeat = Heartbeat(hb.url, hb.every.total_seconds(), hb.timeout.total_seconds(),
                                   self.health, on_beat=self.self_stats.heartbeat)
        await self.heartbeat.start()

    async def stop(self) -> None:
        if self.heartbeat is not None:  # first: a stopping slaguard is not a healthy one
            await self.heartbeat.stop()
        await self.capacity.stop()  # a run under way stops (aborted) and is recorded
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.pool is not None:  # waits until each worker has sent what it holds
            await self.pool.stop()
        for s in self.schedulers:
            s.shutdown()
            await close_connectors(s.ctx)
            await close_browser(s.ctx)
        await self.pipeline.stop()
        if self.influx is not None:  # unsent points stay in the spool for the next start
            await self.influx.stop(drain_s=5.0)
        for runner in (self.runner, self.internal_runner):
            if runner is not None:
                await runner.cleanup()
        await self.alerting.stop()
        self.alerting.close()
        self.claims.close()
        self.archive.close()
        self.support.store.close()
        self.capacity_store.close()
        self.store.close()

    async def run_forever(self) -> None:
        await self.start()
        try:
            await stop_requested().wait()
        finally:
            await self.stop()


def stop_requested() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, so shutdown is orderly: the last results
    are committed, the spool and the outbox keep what was not sent."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event
