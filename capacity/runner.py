"""Running a capacity job: Locust, headless, in its own processes.

Locust is never imported here: gevent's monkey-patching breaks asyncio
(locustio/locust#1251), so it runs as ``python -m locust`` subprocesses with the
generated locustfile: one master and N workers (one per core by default), or a
single process, or a master that waits for workers on other machines (distributed
mode).  It writes ``--csv-full-history`` every second (the live figures: the abort
rules, the progress, the 10 s history) and, on its way out, ``--json-file`` (each
endpoint's response-time histogram: the final figures).

One run at a time, across processes: an ``flock`` on ``<record>.capacity.lock``
(the CLI's foreground run and the server's scheduled run exclude each other).
The kill switch is ``<record>.capacity.kill`` (written by the API and ``slaguard
capacity kill``) or ``capacity.kill_switch: true`` in the configuration file (re-read
while a run goes): the run stops within 5 s (SIGTERM, SIGKILL after 3 s).  Abort
rules stop it with their reason.  psutil watches the load processes' CPU: one above
``generator.max_cpu`` for ``saturated_for`` stops the run as ``invalid``.

Blocking by design (subprocesses and a 0.25 s poll): the server calls it in a thread.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import psutil

from capacity import locustfile
from capacity.record import (
    Figures,
    History,
    abort_reason,
    figures_from_json,
    figures_from_stats_csv,
    history_doc,
    thresholds_doc,
    verdict,
)
from capacity.store import CapacityStore
from slaguard.config import Config, ConfigError, load_config
from slaguard.config.capacity import Capacity, CapacityJob
from slaguard.config.schema import host_port
from slaguard.errors import SlaguardError
from slaguard.units import format_duration
from slo.periods import rfc3339

log = logging.getLogger(__name__)
POLL_S = 0.25
TERM_GRACE_S = 3.0  # SIGTERM, then SIGKILL: the run is gone within 5 s of the request
Progress = Callable[[str], None]


class CapacityBusy(SlaguardError):
    """Another capacity run holds the lock."""


class CapacityRefused(SlaguardError):
    """A run cannot start (kill switch, unknown job) or there is none to kill."""


class UnknownJob(CapacityRefused):
    """No capacity job has that name."""


def job_named(capacity: Capacity, name: str) -> CapacityJob:
    try:
        return capacity.job(name)
    except KeyError:
        known = ", ".join(j.name for j in capacity.jobs) or "none configured"
        raise UnknownJob(f"no capacity job {name!r} ({known})") from None


def lock_path(record: str) -> Path:
    return Path(record + ".capacity.lock")


def kill_path(record: str) -> Path:
    return Path(record + ".capacity.kill")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def request_kill(record: str, store: CapacityStore, by: str) -> str:
    """Ask the running run (in whichever process) to stop; its id.  The runner sees the
    file within a quarter of a second."""
    running = store.running()
    if running is None:
        raise CapacityRefused("no capacity run is under way")
    kill_path(record).write_text(f"killed by {by}", encoding="utf-8")
    return str(running["id"])


class RunLock:
    """``flock`` beside the record: held for a whole run, by one process at a time."""

    def __init__(self, record: str):
        self.path = lock_path(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = None

    def acquire(self, holder: str) -> None:
        f = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            who = f.read().strip() or "another process"
            f.close()
            raise CapacityBusy(f"a capacity run is under way ({who}); one at a time") from None
        f.seek(0)
        f.truncate()
        f.write(holder)
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.truncate(0)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class CsvTail:
    """The rows Locust appended to a CSV file since the last call."""

    def __init__(self, path: Path):
        self.path, self._offset, self._header = path, 0, ""

    def rows(self) -> list[dict[str, str]]:
        try:
            with self.path.open("r", encoding="utf-8") as f:
                f.seek(self._offset)
                text = f.read()
        except FileNotFoundError:
            return []
        done = text[:text.rfind("\n") + 1]  # only whole lines
        self._offset += len(done.encode("utf-8"))
        lines = done.splitlines()
        if not self._header and lines:
            self._header, lines = lines[0], lines[1:]
        if not lines:
            return []
        return list(csv.DictReader(io.StringIO("\n".join([self._header, *lines]))))


@dataclass
class LoadProcess:
    role: str  # master, worker-1, …, or locust (a single process)
    popen: subprocess.Popen[bytes]
    ps: psutil.Process | None = None
    over_since: float | None = None
    peak_cpu: float = 0.0

    def cpu(self) -> float:
        """CPU % since the last call (psutil; 0 for a process already gone)."""
        try:
            if self.ps is None:
                self.ps = psutil.Process(self.popen.pid)
                self.ps.cpu_percent(None)
                return 0.0
            value = float(self.ps.cpu_percent(None))
        except psutil.Error:
            return 0.0
        self.peak_cpu = max(self.peak_cpu, value)
        return value


@dataclass(frozen=True)
class Settings:
    """What a run needs from the configuration (and where to re-read it)."""
    record: str
    timezone: str
    capacity: Capacity
    targets: Mapping[str, Any]
    config_path: str | None = None
    python: str = sys.executable

    @classmethod
    def from_config(cls, cfg: Config, config_path: str | None = None) -> Settings:
        return cls(cfg.storage.path, cfg.timezone, cfg.capacity,
                   {t.name: t for t in cfg.targets}, config_path)


@dataclass
class _Watch:
    """What stops a run early, checked every poll."""
    settings: Settings
    stop: threading.Event
    config_mtime: float = 0.0
    config_checked: float = 0.0

    def kill_reason(self) -> str | None:
        k = kill_path(self.settings.record)
        if k.exists():
            reason = k.read_text(encoding="utf-8", errors="replace").strip() or "killed"
            k.unlink(missing_ok=True)
            return f"kill switch: {reason}"
        if self.stop.is_set():
            return "kill switch: slaguard is stopping"
        return self._config_flag()

    def flag_set(self) -> bool:
        """The flag as the configuration file says now (slaguard may have read it
        before someone set it)."""
        return self._config_flag() is not None

    def _config_flag(self) -> str | None:
        """``capacity.kill_switch: true`` written into the file while the run goes."""
        path = self.settings.config_path
        if path is None or time.monotonic() - self.config_checked < 1:
            return None
        self.config_checked = time.monotonic()
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return None
        if mtime == self.config_mtime:
            return None
        self.config_mtime = mtime
        try:
            cfg, _ = load_config(path)
        except ConfigError:
            return None  # a half-edited file is no instruction
        return ("kill switch: capacity.kill_switch is true in the configuration"
                if cfg.capacity.kill_switch else None)


@dataclass
class ActiveRun:
    """A run whose processes are started; :meth:`wait` sees it to its record."""
    runner: CapacityRunner
    run_id: str
    job: CapacityJob
    plan: locustfile.Plan
    folder: Path
    procs: list[LoadProcess]
    lock: RunLock
    doc: dict[str, Any]
    started_mono: float
    history: History = field(default_factory=History)
    aborted_by: str | None = None
    invalid_reason: str | None = None
    machine_peak: float = 0.0
    machine_over_since: float | None = None

    def wait(self, progress: Progress | None = None) -> dict[str, Any]:
        try:
            self._monitor(progress)
            return self._finish()
        finally:
            self._kill_all()
            self.lock.release()
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- watching -------------------------------------------------------------------------

    def _monitor(self, progress: Progress | None) -> None:
        s = self.runner.settings
        watch = _Watch(s, self.runner.stop)
        tail = CsvTail(self.folder / "run_stats_history.csv")
        deadline = self.started_mono + self.job.max_duration.total_seconds()
        last_second, last_progress = 0.0, self.started_mono
        while self.procs[0].popen.poll() is None:
            why = watch.kill_reason()
            if why is None and time.monotonic() > deadline:
                why = f"max_duration {format_duration(self.job.max_duration)} reached"
            if why is None and time.monotonic() - last_second >= 1:
                last_second = time.monotonic()
                for row in tail.rows():
                    self.history.feed(row)
                why = self._every_second()
            if why is not None:
                self._stop(why)
                break
            if progress and time.monotonic() - last_progress >= 5:
                last_progress = time.monotonic()
                progress(self._progress_line())
            time.sleep(POLL_S)
        for row in tail.rows():
            self.history.feed(row)

    def _every_second(self) -> str | None:
        """Saturation (→ invalid), a dead worker (→ invalid), the abort rules."""
        why = self._saturated()
        if why is not None:
            self.invalid_reason = why
            return why
        for p in self.procs[1:]:  # a worker told to quit exits 0; a crash does not
            if p.popen.poll() not in (None, 0):
                self.invalid_reason = f"load process {p.role} ended early (exit {p.popen.poll()})"
                return self.invalid_reason
        reason = abort_reason(self.history, self.job.abort, self.job.thresholds,
                              [e.name for e in self.plan.endpoints])
        if reason is not None:
            self.aborted_by = reason
        return reason

    def _saturated(self) -> str | None:
        """A load process above ``max_cpu`` for ``saturated_for``, or the machine as a
        whole: a load process starved by others is as untrustworthy as a busy one (its
        own CPU share stays low while its requests wait for the scheduler)."""
        gen = self.runner.settings.capacity.generator
        limit, hold = float(gen.max_cpu), gen.saturated_for.total_seconds()
        now = time.monotonic()
        cores = psutil.cpu_percent(None)
        self.machine_peak = max(self.machine_peak, cores)
        self.machine_over_since = (None if cores <= limit
                                   else self.machine_over_since or now)
        if self.machine_over_since is not None and now - self.machine_over_since >= hold:
            return (f"generator saturated: the machine's CPU at {cores:.0f} % for {hold:.0f} s "
                    f"(capacity.generator.max_cpu {gen.max_cpu} %); run the load elsewhere or "
                    "add machines (distributed mode)")
        for p in self.procs:
            cpu = p.cpu()
            p.over_since = None if cpu <= limit else p.over_since or now
            if p.over_since is not None and now - p.over_since >= hold:
                return (f"generator saturated: {p.role} at {cpu:.0f} % CPU for {hold:.0f} s "
                        f"(capacity.generator.max_cpu {gen.max_cpu} %); add workers or "
                        "machines (distributed mode)")
        return None

    def _stop(self, why: str) -> None:
        if self.invalid_reason is None and self.aborted_by is None:
            self.aborted_by = why
        log.warning("capacity %s (%s): stopping: %s", self.run_id, self.job.name, why)
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                p.popen.send_signal(signal.SIGTERM)
        end = time.monotonic() + TERM_GRACE_S
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(max(0.0, end - time.monotonic()))
        self._kill_all()

    def _kill_all(self) -> None:
        for p in self.procs:
            if p.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.popen.kill()
                p.popen.wait()

    def _progress_line(self) -> str:
        t = int(time.monotonic() - self.started_mono)
        last = self.history.samples[-1] if self.history.samples else None
        if last is None:
            return f"{self.run_id} {t:>4} s  starting"
        return (f"{self.run_id} {t:>4} s  users {last.users}  requests {last.count}  failures "
                f"{last.failures}  p95 (10 s) {last.p95_ms if last.p95_ms is not None else '-'} ms")

    # -- the record -----------------------------------------------------------------------

    def _figures(self) -> tuple[list[Figures], Figures, str]:
        final = self.folder / "final.json"
        if final.exists():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return (*figures_from_json(json.loads(final.read_text(encoding="utf-8"))),
                        "locust --json-file")
        stats = self.folder / "run_stats.csv"
        rows = list(csv.DictReader(stats.open(encoding="utf-8"))) if stats.exists() else []
        return (*figures_from_stats_csv(rows), "locust --csv (last flush; Locust was killed)")

    def _finish(self) -> dict[str, Any]:
        end = now_ms()
        tz = self.runner.settings.timezone
        rows, total, source = self._figures()
        if total.count == 0 and self.invalid_reason is None and self.aborted_by is None:
            self.invalid_reason = ("no request was made (see the Locust log: "
                                   f"{self._log_tail()})")
        thresholds = thresholds_doc(self.job.thresholds, rows, total)
        doc = self.doc | {
            "end": rfc3339(end, tz), "end_ms": end,
            "duration_s": (end - self.doc["start_ms"]) // 1000,
            "peak_users": self.history.peak_users,
            "endpoints": [f.to_dict() for f in rows], "total": total.to_dict(),
            "history": history_doc(self.history, self.doc["start_ms"]),
            "thresholds": thresholds, "aborted_by": self.aborted_by,
            "invalid_reason": self.invalid_reason, "figures_from": source,
            "verdict": verdict(thresholds, self.aborted_by, self.invalid_reason),
        }
        doc["generator"] = doc["generator"] | {
            "peak_cpu_percent": {p.role: round(p.peak_cpu) for p in self.procs},
            "machine_peak_cpu_percent": round(self.machine_peak)}
        self.runner.store.finish(doc)
        log.info("capacity %s (%s): %s", self.run_id, self.job.name, doc["verdict"])
        return doc

    def _log_tail(self) -> str:
        """The last lines Locust's master said (its log, then its stderr)."""
        lines: list[str] = []
        for name in ("locust.log", f"{self.procs[0].role}.out"):
            path = self.folder / name
            if path.exists():
                lines += path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(line.strip() for line in lines[-3:]) or "empty"


@dataclass
class CapacityRunner:
    settings: Settings
    store: CapacityStore
    # Set when slaguard stops: a run in progress ends (recorded, aborted).
    stop: threading.Event = field(default_factory=threading.Event)

    def job(self, name: str) -> CapacityJob:
        return job_named(self.settings.capacity, name)

    def run(self, name: str, started_by: str, progress: Progress | None = None
            ) -> dict[str, Any]:
        """A whole run, in the foreground: its record."""
        return self.start(name, started_by).wait(progress)

    def start(self, name: str, started_by: str) -> ActiveRun:
        """Take the lock, record the run as started, start Locust's processes."""
        job = self.job(name)
        if self.settings.capacity.kill_switch or _Watch(self.settings, self.stop).flag_set():
            raise CapacityRefused("capacity.kill_switch is true: no run starts")
        lock = RunLock(self.settings.record)
        lock.acquire(f"job {name} started by {started_by} at {rfc3339(now_ms(), 'UTC')}")
        try:
            return self._start_locked(job, started_by, lock)
        except BaseException:
            lock.release()
            raise

    def _start_locked(self, job: CapacityJob, started_by: str, lock: RunLock) -> ActiveRun:
        kill_path(self.settings.record).unlink(missing_ok=True)  # a stale request
        self.store.close_abandoned(now_ms())
        plan = locustfile.plan_for(job, self.settings.targets, self.settings.capacity.allow_hosts)
        folder = Path(tempfile.mkdtemp(prefix="slaguard-capacity-"))
        locustfile.write(plan, folder)
        start = now_ms()
        doc = self._doc(job, plan, started_by, start)
        run_id = self.store.start(job.name, start, doc)
        procs = self._spawn(plan, folder)
        psutil.cpu_percent(None)  # the machine's share is measured from here
        doc = doc | {"id": run_id}
        log.info("capacity %s (%s) started by %s: %d users", run_id, job.name, started_by,
                 plan.users)
        return ActiveRun(self, run_id, job, plan, folder, procs, lock, doc, time.monotonic())

    def _doc(self, job: CapacityJob, plan: locustfile.Plan, by: str, start: int
             ) -> dict[str, Any]:
        p, gen = job.profile, self.settings.capacity.generator
        return {
            "job": job.name, "started_by": by,
            "profile": {"users": p.users, "spawn_rate": str(p.spawn_rate),
                        "hold_s": int(p.hold.total_seconds()),
                        "think_min_ms": p.think_min // timedelta(milliseconds=1),
                        "think_max_ms": p.think_max // timedelta(milliseconds=1),
                        "ramp_down_s": int(p.ramp_down.total_seconds()),
                        "max_duration_s": int(job.max_duration.total_seconds())},
            "requests": [{"name": e.name, "method": e.method, "url": e.url,
                          "weight": e.weight} for e in plan.endpoints],
            "generator": {"workers": self._workers(),
                          "remote_workers": self._remote_workers(),
                          "max_cpu_percent": str(gen.max_cpu)},
            "start": rfc3339(start, self.settings.timezone), "start_ms": start,
            "end": None, "end_ms": None, "aborted_by": None, "invalid_reason": None,
        }

    # -- processes --------------------------------------------------------------------------

    def _workers(self) -> int:
        w = self.settings.capacity.generator.workers
        return (os.cpu_count() or 1) if w == "auto" else w

    def _remote_workers(self) -> int:
        d = self.settings.capacity.distributed
        return 0 if d is None else d.expected_workers

    def _spawn(self, plan: locustfile.Plan, folder: Path) -> list[LoadProcess]:
        """The master (or the single process) first, then the local workers."""
        workers, remote = self._workers(), self._remote_workers()
        base = [self.settings.python, "-m", "locust", "-f", str(folder / "locustfile.py"),
                "--host", plan.host, "--loglevel", "WARNING"]
        master = [*base, "--headless", "--csv", str(folder / "run"), "--csv-full-history",
                  "--json-file", str(folder / "final"), "--only-summary",
                  "--stop-timeout", str(plan.stop_timeout_s), "--exit-code-on-error", "0",
                  "--logfile", str(folder / "locust.log")]
        if workers + remote == 0:
            return [self._popen("locust", master, folder)]
        d = self.settings.capacity.distributed
        bind_host, bind_port = (("127.0.0.1", _free_port()) if d is None
                                else host_port(d.master_bind))
        wait_s = 60 if d is None else int(d.wait_for_workers.total_seconds())
        procs = [self._popen("master", [
            *master, "--master", "--master-bind-host", bind_host,
            "--master-bind-port", str(bind_port), "--expect-workers", str(workers + remote),
            "--expect-workers-max-wait", str(wait_s)], folder)]
        connect = "127.0.0.1" if bind_host in ("0.0.0.0", "", "::") else bind_host
        for i in range(1, workers + 1):
            procs.append(self._popen(f"worker-{i}", [
                *base, "--worker", "--master-host", connect, "--master-port", str(bind_port),
                "--stop-timeout", str(plan.stop_timeout_s),
                "--logfile", str(folder / f"worker-{i}.log")], folder))
        return procs

    def _popen(self, role: str, argv: list[str], folder: Path) -> LoadProcess:
        out = (folder / f"{role}.out").open("wb")
        try:
            # Its own session: a Ctrl-C on slaguard's terminal reaches slaguard, which
            # then stops Locust itself (and records the run).
            popen = subprocess.Popen(argv, cwd=folder, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()
        lp = LoadProcess(role, popen)
        lp.cpu()  # prime psutil's per-process counter
        return lp


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
