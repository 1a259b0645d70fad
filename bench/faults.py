"""Fault drills with real processes (issue 14, item 8): figures, not claims.

    .venv/bin/python bench/faults.py                  # the issue's durations (~50 min)
    .venv/bin/python bench/faults.py --quick          # every outage scaled down (~5 min)
    .venv/bin/python bench/faults.py --only kill9 --only fuzz --json-out faults.json

One JSON document on stdout (progress on stderr).  Every drill runs ``slaguard run -c
CONFIG`` as a child process (``.venv/bin/slaguard``, ``$SLAGUARD`` overrides) on free
loopback ports, probing a real HTTP target served by this process (20 ``http``
targets at 1 s: 20 results a second), and reads slaguard's SQLite record from a
separate read-only connection, which sees exactly what has been committed.

Drills and their figures (each measured, none assumed):

``kill9`` — kill -9 × 5 while probing.  Each round starts slaguard, lets it probe 3–8 s,
    reads the committed results (target, location, ts) and SIGKILLs the main process at
    once (its probe worker goes with it; survivors are counted as ``orphans``).
    ``committed_lost``: results committed before a kill (visible to the reader just
    before it) that are not in the record once slaguard has started again (goal 0).
    ``answered_not_recorded``: probes the target answered in that round whose results
    were not committed when the process died — in flight or waiting for the writer,
    never acknowledged to anyone; informative, not a loss of committed data.

``sink_down`` — the InfluxDB-compatible sink (Debian's ``victoria-metrics``) stopped for
    ``--sink-down`` seconds (600; 25 with ``--quick``) while slaguard probes, then started
    again on the same port and data.  After the spool drained and slaguard stopped:
    ``points_lost`` = results in the record with neither a ``probe_duration`` sample in
    VictoriaMetrics nor a line still in slaguard's spool (goal 0); ``duplicates`` =
    samples VictoriaMetrics holds twice for one result.

``webhook`` — a webhook channel down for ``--webhook-down`` seconds (1800; 30) with a
    kill -9 of slaguard in the middle.  A target fails (503) until its incident has
    opened, then recovers, so the incident is opened, restored and resolved while the
    receiver answers 503 to everything; halfway through slaguard is killed and restarted;
    then the receiver accepts.  For every notification in slaguard's outbox
    (``alerting_outbox``, channel ``hook``) the receiver's 2xx answers are counted by
    ``webhook-id``: ``exactly_once`` (goal: all), ``missing``, ``duplicates``.

``disk_full`` — the record's file system full for ``--disk-full`` seconds (60; 20), the
    technique of tests/core/test_full_disk.py: a small tmpfs in a private mount
    namespace (``unshare``; slaguard joins it with ``nsenter``), filled to its last page
    and freed again.  ``committed_lost`` (results committed before or during the full
    period missing at the end), ``resumed`` (/healthz back to 200 and nothing left
    uncommitted), ``healthz_503_seen``, ``dropped`` (slaguard's own counter),
    ``missing_probe_slots`` (instants without a result in any series).

``fuzz`` — ``--fuzz-requests`` (10 000) hostile requests over HTTP to the running process:
    the strategy of tests/core/test_fuzz_routes.py (every route × anonymous, customer,
    staff) drawn by hypothesis.  ``five_xx`` (goal 0), answers by status, tracebacks and
    ERROR lines in slaguard's log, and whether the process is still healthy.

Exit status: 0 when every drill ran and met its goal, 1 otherwise (the JSON says which).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from _faults_kit import (  # noqa: E402
    SLAGUARD,
    Receiver,
    Row,
    Slaguard,
    Target,
    VictoriaMetrics,
    config,
    free_port,
    http_targets,
    log_problems,
    missing_slots,
    need,
    reader,
    rows,
    rows_in,
    say,
    scalar,
    wait_until,
)

DRILLS = ("kill9", "sink_down", "webhook", "disk_full", "fuzz")


@dataclass
class Run:
    """What every drill needs: the options, a random source and a folder of its own."""

    args: argparse.Namespace
    rng: random.Random
    tmp: Path

    def folder(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def drill(self) -> Iterator[list[Callable[[], Any]]]:
        """Cleanups registered in the block run at its end, last first, whatever happens."""
        mine: list[Callable[[], Any]] = []
        try:
            yield mine
        finally:
            for undo in reversed(mine):
                with contextlib.suppress(Exception):
                    undo()


# -- 1. kill -9 while probing -------------------------------------------------------------


def drill_kill9(run: Run) -> dict[str, Any]:
    kills, n = run.args.kills, run.args.targets
    tmp = run.folder("kill9")
    with run.drill() as undo:
        target = Target()
        undo.append(target.close)
        db, port = tmp / "slaguard.db", free_port()
        cfg = config(tmp, db=db, port=port, targets=http_targets(target, n))
        sg = Slaguard(cfg, port, tmp / "slaguard.log")
        undo.append(sg.stop)
        rounds: list[dict[str, Any]] = []
        snapshot: set[Row] = set()
        for i in range(kills + 1):
            answered0 = target.count()
            start_s = sg.start()
            after_restart = rows(db) if db.exists() else set()
            if rounds:  # the previous round's committed results, read back after the restart
                rounds[-1]["committed_lost"] = len(snapshot - after_restart)
            if i == kills:
                break
            time.sleep(run.rng.uniform(3.0, 8.0))
            snapshot = rows(db)
            orphans = sg.kill9()  # within microseconds of the read above
            at_death = rows(db)
            answered = target.count() - answered0
            recorded = len(at_death - after_restart)
            rounds.append({"start_s": round(start_s, 2),
                           "committed_before_kill": len(snapshot - after_restart),
                           "committed_by_the_killed_process": recorded,
                           "answered_by_target": answered,
                           "answered_not_recorded": answered - recorded,
                           "orphans": orphans})
            say(f"kill9: round {i + 1}/{kills}: killed with {recorded} results committed, "
                f"{answered - recorded} in flight")
        time.sleep(2)
        exit_code = sg.stop()
        with reader(db) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        log = sg.log_text()
    lost = sum(r["committed_lost"] for r in rounds)
    return {
        "definition": "committed_lost: results a separate reader saw committed immediately "
                      "before a SIGKILL of the main process that are not in the record after "
                      "slaguard restarted",
        "kills": kills, "targets": n, "interval_s": 1,
        "committed_lost": lost,
        "committed_checked": sum(r["committed_before_kill"] for r in rounds),
        "answered_not_recorded": sum(r["answered_not_recorded"] for r in rounds),
        "orphans": sum(r["orphans"] for r in rounds),
        "final_exit_code": exit_code, "integrity_check": integrity,
        "log": log_problems(log), "rounds": rounds,
        "goal_met": lost == 0 and integrity == "ok" and exit_code == 0,
    }


# -- 2. the InfluxDB-compatible sink down ---------------------------------------------------


def spooled_rows(db: Path) -> set[Row]:
    """(target, location, ts) of the probe points still waiting in slaguard's spool."""
    out: set[Row] = set()
    with reader(db) as conn:
        try:
            lines = [line for (line,) in conn.execute("SELECT line FROM influx_spool")]
        except sqlite3.OperationalError:  # no spool table yet: nothing waits
            return out
    for line in lines:
        head = line.split(" ", 1)[0].split(",")
        if head[0] != "probe":
            continue
        tags = dict(t.split("=", 1) for t in head[1:])
        out.add((tags.get("target", ""), tags.get("location", ""), int(line.rsplit(" ", 1)[1])))
    return out


def drill_sink_down(run: Run) -> dict[str, Any]:
    binary = need("victoria-metrics", "VICTORIA_METRICS",
                  "Debian's victoria-metrics: scripts/install-system-deps")
    outage_s, n = run.args.sink_down, run.args.targets
    tmp = run.folder("sink_down")
    with run.drill() as undo:
        target = Target()
        undo.append(target.close)
        vm = VictoriaMetrics(binary, tmp / "vm", tmp / "vm.log")
        vm.start()
        undo.append(vm.stop)
        db, port = tmp / "slaguard.db", free_port()
        cfg = config(tmp, db=db, port=port, targets=http_targets(target, n), extra={
            "exporters": {"influxdb": {"enabled": True, "url": vm.url, "org": "bench",
                                       "bucket": "probes", "token": "bench"}}})
        sg = Slaguard(cfg, port, tmp / "slaguard.log")
        sg.start()
        undo.append(sg.stop)
        time.sleep(run.args.warmup)
        say(f"sink_down: victoria-metrics down for {outage_s:g} s")
        vm.stop()
        down_at = time.monotonic()
        peak = peak_probe = 0
        while time.monotonic() - down_at < outage_s:
            time.sleep(min(5.0, outage_s / 5))
            peak = max(peak, scalar(db, "SELECT COUNT(*) FROM influx_spool"))
            peak_probe = max(peak_probe, scalar(
                db, "SELECT COUNT(*) FROM influx_spool WHERE line LIKE 'probe,%'"))
        vm.start()
        say(f"sink_down: victoria-metrics back; {peak} points waiting in the spool "
            f"({peak_probe} probe points, the rest slo points)")
        # Drained: no more than ~3 s of new results waiting (they keep arriving).
        drain_s = wait_until(lambda: scalar(db, "SELECT COUNT(*) FROM influx_spool") <= 3 * n,
                             max(120.0, outage_s / 4), "the spool to drain", every_s=0.5)
        exit_code = sg.stop()
        stored = rows(db)
        waiting = spooled_rows(db)
        dead = scalar(db, "SELECT COUNT(*) FROM influx_dead")
        # The newest points take a moment to become searchable.
        in_vm: list[Row] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            in_vm = vm.samples("probe_duration")
            if len(set(in_vm) | waiting) >= len(stored):
                break
            time.sleep(1)
        log = sg.log_text()
    vm_set = set(in_vm)
    lost = stored - vm_set - waiting
    dups = sum(c - 1 for c in Counter(in_vm).values() if c > 1)
    return {
        "definition": "points_lost: results in slaguard's record with neither a probe_duration "
                      "sample in VictoriaMetrics nor a line still in its spool, after the "
                      "spool drained and slaguard stopped",
        "outage_s": outage_s, "targets": n, "interval_s": 1,
        "results_stored": len(stored), "points_in_victoria_metrics": len(vm_set),
        "points_still_spooled_at_exit": len(waiting), "dead_lettered": dead,
        "points_lost": len(lost), "duplicates": dups,
        "points_not_in_record": len(vm_set - stored),
        "spool_peak_during_outage": {"probe_points": peak_probe, "all_points": peak},
        "drain_s": round(drain_s, 1),
        "exit_code": exit_code, "log": log_problems(log),
        "lost_examples": sorted(lost)[:5],
        "goal_met": not lost and dups == 0 and exit_code == 0,
    }


# -- 3. a webhook channel down, with a kill -9 in the middle ---------------------------------


def outbox(db: Path) -> dict[str, str]:
    """idempotency key → state, of the notifications to the bench's channel."""
    with reader(db) as conn:
        try:
            return dict(conn.execute("SELECT idempotency_key, state FROM alerting_outbox "
                                     "WHERE channel = 'hook'").fetchall())
        except sqlite3.OperationalError:  # no outbox table yet
            return {}


def drill_webhook(run: Run) -> dict[str, Any]:
    outage_s, n = run.args.webhook_down, 3
    tmp = run.folder("webhook")
    with run.drill() as undo:
        target = Target()
        undo.append(target.close)
        receiver = Receiver()
        undo.append(receiver.close)
        target.failing = True
        every = {"respond": "15m", "escalate_after": "24h", "notify": ["hook"]}
        db, port = tmp / "slaguard.db", free_port()
        cfg = config(tmp, db=db, port=port, targets=http_targets(target, n, "/flaky"), extra={
            "incidents": {"priorities": {p: every for p in ("P1", "P2", "P3", "P4")},
                          "restore_after": "5s", "auto_resolve_after": "10s"},
            "channels": {"hook": {"kind": "webhook", "url": receiver.url}}})
        sg = Slaguard(cfg, port, tmp / "slaguard.log")
        t0 = time.monotonic()
        sg.start()
        undo.append(sg.stop)
        opened_s = wait_until(lambda: bool(outbox(db)), 90, "an incident's first notification")
        say(f"webhook: incident paged after {opened_s:.1f} s; the receiver refuses for "
            f"{outage_s:g} s")
        time.sleep(max(0.0, min(outage_s / 4, outage_s / 2 - 1) - (time.monotonic() - t0)))
        target.failing = False
        time.sleep(max(0.0, outage_s / 2 - (time.monotonic() - t0)))
        before_kill = outbox(db)
        orphans = sg.kill9()
        say(f"webhook: killed slaguard with {len(before_kill)} notifications in the outbox "
            f"({dict(Counter(before_kill.values()))}); restarting")
        sg.start()
        time.sleep(max(0.0, outage_s - (time.monotonic() - t0)))
        receiver.refusing = False
        refused = receiver.refused()
        say(f"webhook: the receiver accepts now ({refused} attempts refused so far)")

        def all_sent() -> bool:
            box = outbox(db)
            return bool(box) and all(s == "sent" for s in box.values())
        # The outbox's retry schedule is capped at 5 min between attempts.
        delivered_after_s = wait_until(all_sent, 420, "every notification to be sent", 0.5)
        time.sleep(3)  # a late duplicate would show up here
        exit_code = sg.stop()
        box = outbox(db)
        got = receiver.delivered()
        log = sg.log_text()
    once = [k for k in box if got[k] == 1]
    return {
        "definition": "per notification in slaguard's outbox (channel hook): the receiver's 2xx "
                      "answers with its webhook-id; exactly once = one",
        "outage_s": outage_s, "kill9_at_s": round(outage_s / 2, 1), "orphans": orphans,
        "notifications": len(box),
        "attempts_per_notification": {k: receiver.attempts(k) for k in sorted(box)},
        "exactly_once": len(once),
        "missing": sorted(k for k in box if got[k] == 0),
        "duplicates": {k: c for k, c in got.items() if c > 1},
        "unknown_deliveries": sorted(k for k in got if k not in box),
        "attempts_refused_during_outage": refused,
        "in_outbox_at_kill": dict(Counter(before_kill.values())),
        "all_sent_s_after_receiver_up": round(delivered_after_s, 1),
        "outbox_states": dict(Counter(box.values())),
        "exit_code": exit_code, "log": log_problems(log),
        "goal_met": bool(box) and len(once) == len(box) and len(got) == len(box)
        and exit_code == 0,
    }


# -- 4. the disk full ---------------------------------------------------------------------


def fill(path: Path) -> int:
    """Fill the file system to its last page; returns the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 65536, 4096, 512, 1):
            chunk = b"\0" * size
            try:
                while True:
                    written += f.write(chunk) or 0
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    return written


class HealthWatch:
    """/healthz every 0.25 s in a thread: (monotonic time, status, reason)."""

    def __init__(self, sg: Slaguard) -> None:
        self.sg = sg
        self.seen: list[tuple[float, int | None, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            status, body = self.sg.healthz()
            self.seen.append((time.monotonic(), status, str(body.get("reason", ""))))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def private_tmpfs(data: Path, size: str) -> subprocess.Popen[bytes]:
    """A process holding a mount namespace where ``data`` is a tmpfs of ``size``."""
    unshare = need("unshare", hint="util-linux")
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    holder = subprocess.Popen(
        [unshare, *user, "--mount", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs -o size={size} tmpfs '{data}' && echo mounted && exec sleep 86400"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert holder.stdout is not None
    line = holder.stdout.readline().decode().strip()
    if line != "mounted":
        holder.kill()
        err = holder.communicate()[1].decode(errors="replace").strip()
        raise SystemExit(f"error: cannot mount a tmpfs in a private mount namespace here "
                         f"(the disk_full drill needs root or user namespaces): {err[-300:]}")
    return holder


def stop_holder(holder: subprocess.Popen[bytes]) -> None:
    """The namespace, and with it the tmpfs, goes with its last process."""
    holder.kill()
    holder.wait()


def drill_disk_full(run: Run) -> dict[str, Any]:
    full_s, n = run.args.disk_full, run.args.targets
    nsenter = need("nsenter", hint="util-linux")
    tmp = run.folder("disk_full")
    data = tmp / "data"
    data.mkdir()
    with run.drill() as undo:
        holder = private_tmpfs(data, "16m")
        undo.append(lambda: stop_holder(holder))
        # The namespace's view, for files; SQLite reads it through nsenter (rows_in).
        seen = Path(f"/proc/{holder.pid}/root") / data.relative_to("/")
        target = Target()
        undo.append(target.close)
        port = free_port()
        cfg = config(tmp, db=data / "slaguard.db", port=port, targets=http_targets(target, n))
        user = ["--preserve-credentials", "-U"] if os.geteuid() != 0 else []
        inside = [nsenter, "-t", str(holder.pid), "-m", *user, "--"]
        sg = Slaguard(cfg, port, tmp / "slaguard.log", prefix=inside)
        sg.start()
        undo.append(sg.stop)
        db = data / "slaguard.db"
        time.sleep(run.args.warmup)
        watch = HealthWatch(sg)
        undo.append(watch.stop)
        before = rows_in(inside, db)
        written = fill(seen / "filler")
        full_at = time.monotonic()
        say(f"disk_full: filled the tmpfs ({written} bytes); holding it full for {full_s:g} s")
        time.sleep(full_s)
        during = rows_in(inside, db)  # what committed while full (before the writer noticed)
        waiting = sg.metric("slaguard_store_uncommitted_results")
        (seen / "filler").unlink()
        freed_at = time.monotonic()
        say(f"disk_full: freed; {waiting} results waiting to commit")

        def resumed() -> bool:
            return sg.healthz()[0] == 200 and sg.metric("slaguard_store_uncommitted_results") == 0
        try:
            resume_s: float | None = wait_until(resumed, 120, "slaguard to commit again", 0.25)
        except TimeoutError:
            resume_s = None
        time.sleep(3)
        dropped = sg.metric("slaguard_store_dropped_results_total")
        watch.stop()
        exit_code = sg.stop()
        after = rows_in(inside, db)
        answered = target.count()
        log = sg.log_text()
    full_503 = [(t, r) for t, s, r in watch.seen if s == 503 and full_at <= t]
    lost = (before | during) - after
    return {
        "definition": "committed_lost: results a reader saw committed before or during the full "
                      "period that are missing at the end; resumed: /healthz 200 again and no "
                      "result left uncommitted",
        "full_s": full_s, "tmpfs": "16m", "targets": n, "interval_s": 1,
        "committed_lost": len(lost),
        "resumed": resume_s is not None,
        "resumed_s_after_free": None if resume_s is None else round(resume_s, 1),
        "healthz_503_seen": bool(full_503),
        "first_503_s_after_fill": round(full_503[0][0] - full_at, 1) if full_503 else None,
        "last_503_s_after_free": round(max(t for t, _ in full_503) - freed_at, 1)
        if full_503 else None,
        "healthz_reason_example": full_503[-1][1] if full_503 else None,
        "uncommitted_when_freed": waiting, "dropped": dropped,
        "results_stored": len(after), "answered_by_target": answered,
        "missing_probe_slots": missing_slots(after),
        "exit_code": exit_code, "log": log_problems(log),
        "goal_met": not lost and resume_s is not None and bool(full_503) and dropped == 0
        and exit_code == 0,
    }


# -- 5. fuzzed requests -------------------------------------------------------------------


def drill_fuzz(run: Run) -> dict[str, Any]:
    import asyncio

    import _faults_fuzz as fz

    count = run.args.fuzz_requests
    tmp = run.folder("fuzz")
    with run.drill() as undo:
        target = Target()
        undo.append(target.close)
        t0 = time.monotonic()
        routes = fz.routes(tmp / "routes")
        requests = fz.draw(routes, count, run.args.seed)
        drawn_s = time.monotonic() - t0
        say(f"fuzz: drew {len(requests)} requests over {len(routes)} routes in {drawn_s:.0f} s")
        db, port = tmp / "slaguard.db", free_port()
        cfg = config(tmp, db=db, port=port, targets=http_targets(target, 2), extra={
            "server": {"listen": f"127.0.0.1:{port}", "api_token": fz.STAFF},
            "customers": fz.customers()})
        sg = Slaguard(cfg, port, tmp / "slaguard.log")
        sg.start()
        undo.append(sg.stop)
        tally = asyncio.run(fz.send_all(sg.url, requests, run.args.fuzz_concurrency))
        health = sg.healthz()[0]
        alive = sg.proc is not None and sg.proc.poll() is None
        exit_code = sg.stop()
        log = sg.log_text()
    five = sum(c for s, c in tally.statuses.items() if s >= 500)
    problems = log_problems(log)
    return {
        "requests": count, "routes": len(routes), "roles": ["anonymous", "customer", "staff"],
        "seed": run.args.seed, "concurrency": run.args.fuzz_concurrency,
        "five_xx": five, "five_xx_examples": tally.five_xx[:5],
        "answers": {str(k): v for k, v in sorted(tally.statuses.items())},
        "not_sent_by_client": dict(tally.not_sent), "no_answer": dict(tally.no_answer),
        "draw_s": round(drawn_s, 1), "send_s": round(tally.seconds, 1),
        "requests_per_s": round(sum(tally.statuses.values()) / tally.seconds, 1)
        if tally.seconds else None,
        "alive_after": alive, "healthz_after": health, "exit_code": exit_code, "log": problems,
        "goal_met": five == 0 and problems["tracebacks"] == 0 and problems["error_lines"] == 0
        and alive and exit_code == 0,
    }


# -- the driver ---------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[Run], dict[str, Any]]] = {
    "kill9": drill_kill9, "sink_down": drill_sink_down, "webhook": drill_webhook,
    "disk_full": drill_disk_full, "fuzz": drill_fuzz,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="scale every outage down (sink 25 s, webhook 30 s, disk 20 s)")
    p.add_argument("--only", action="append", choices=DRILLS, metavar="DRILL",
                   help=f"run only this drill (repeatable): {', '.join(DRILLS)}")
    p.add_argument("--json-out", type=Path, help="also write the JSON document here")
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--sink-down", type=float, help="seconds (default 600, quick 25)")
    p.add_argument("--webhook-down", type=float, help="seconds (default 1800, quick 30)")
    p.add_argument("--disk-full", type=float, help="seconds (default 60, quick 20)")
    p.add_argument("--fuzz-requests", type=int, default=10_000)
    p.add_argument("--fuzz-concurrency", type=int, default=8)
    p.add_argument("--targets", type=int, default=20, help="http targets at 1 s (default 20)")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--keep-tmp", action="store_true", help="keep configs, logs and stores")
    args = p.parse_args(argv)
    for name, full, quick in (("sink_down", 600.0, 25.0), ("webhook_down", 1800.0, 30.0),
                              ("disk_full", 60.0, 20.0)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.warmup = 5.0 if args.quick else 20.0
    return args


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: every drill's cleanups run."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not os.access(SLAGUARD, os.X_OK):
        raise SystemExit(f"error: {SLAGUARD} not found (make install, or set $SLAGUARD)")
    signal.signal(signal.SIGTERM, interrupted)
    tmp = Path(tempfile.mkdtemp(prefix="slaguard-faults-"))
    run = Run(args, random.Random(args.seed), tmp)
    doc: dict[str, Any] = {
        "bench": "faults", "quick": args.quick,
        "parameters": {"kills": args.kills, "sink_down_s": args.sink_down,
                       "webhook_down_s": args.webhook_down, "disk_full_s": args.disk_full,
                       "fuzz_requests": args.fuzz_requests, "targets": args.targets,
                       "probe_interval_s": 1, "seed": args.seed},
        "drills": {},
    }
    t0 = time.monotonic()
    try:
        for name in args.only or DRILLS:
            say(f"{name}: starting")
            started = time.monotonic()
            try:
                figures = RUNNERS[name](run)
            except (Exception, SystemExit) as e:
                figures = {"error": f"{type(e).__name__}: {e}", "goal_met": False}
            figures["wall_s"] = round(time.monotonic() - started, 1)
            doc["drills"][name] = figures
            say(f"{name}: done in {figures['wall_s']} s, goal met: {figures['goal_met']}")
    finally:
        if args.keep_tmp:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    doc["wall_s"] = round(time.monotonic() - t0, 1)
    doc["all_goals_met"] = all(d["goal_met"] for d in doc["drills"].values())
    doc["env"] = env()
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n", encoding="utf-8")
    return 0 if doc["all_goals_met"] else 1


def env() -> dict[str, Any]:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "slaguard",
                            "alerting", "exporters", "slo", "probes"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return {"slaguard_commit": commit + ("+dirty" if dirty else ""),
            "python": platform.python_version(), "cores": os.cpu_count(),
            "kernel": platform.release(), "load_avg_at_end": list(os.getloadavg())}


if __name__ == "__main__":
    sys.exit(main())
