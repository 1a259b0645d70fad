"""``slaguard capacity``: load tests run on purpose.

    slaguard capacity run NAME              in the foreground: progress, then the verdict
    slaguard capacity list [--json]         the runs in the record, newest first
    slaguard capacity show RUN [--format text|json|html] [-o FILE]
    slaguard capacity kill [--url U] [--token T] [--by NAME]   through the running slaguard

``run`` exits 0 when the run passed, 1 when it failed, was aborted or is invalid (or
could not start: another run holds the lock, the kill switch is on), 2 for usage, the
configuration or an unknown job.  Ctrl-C stops the run and records it (aborted).
``kill`` asks the running slaguard's API (``POST /api/v1/capacity/kill``, staff write);
a foreground ``run`` in another terminal stops too (the kill reaches it through the
record's folder).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from capacity.page import render_page
from capacity.report import RULE, annotate_outages, capacity_section
from capacity.runner import CapacityRunner, Settings, UnknownJob, job_named, kill_path
from capacity.store import CapacityStore, RunNotFound
from slaguard.cli.common import EXIT_FAIL, EXIT_OK, UsageError, default_actor, load, opened
from slaguard.cli.incidents import client_for
from slaguard.config import Config
from slo.periods import parse_month


def add_capacity_parser(sub: Any, config_default: str) -> None:
    """Adds ``slaguard capacity`` and its subcommands to the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "capacity", help="load tests run on purpose: run, list, show, kill")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=config_default,
                        help=f"configuration file (default ./{config_default})")
    csub = p.add_subparsers(dest="capacity_command", required=True, metavar="COMMAND")
    sp = csub.add_parser("run", parents=[common], help="run a capacity job now, in the "
                                                        "foreground")
    sp.add_argument("job", help="capacity.jobs[].name")
    sp.set_defaults(fn=cmd_run)
    sp = csub.add_parser("list", parents=[common], help="the runs, newest first")
    sp.add_argument("--json", action="store_true", help="the summaries as JSON")
    sp.add_argument("--limit", type=int, default=50)
    sp.set_defaults(fn=cmd_list)
    sp = csub.add_parser("show", parents=[common], help="one run's record")
    sp.add_argument("run", help="CAP-7 or 7")
    sp.add_argument("--format", choices=("text", "json", "html"), default="text")
    sp.add_argument("-o", "--output", help="write to this file instead of stdout")
    sp.set_defaults(fn=cmd_show)
    sp = csub.add_parser("kill", parents=[common],
                         help="stop the running capacity run (through slaguard's API)")
    sp.add_argument("--url", help="slaguard's base URL (default: server.public_url, else "
                                  "server.listen of the configuration)")
    sp.add_argument("--token", help="API token (default: $SLAGUARD_API_TOKEN, else "
                                    "server.api_token of the configuration)")
    sp.add_argument("--by", default=default_actor(), help="who (default: $USER)")
    sp.set_defaults(fn=cmd_kill)


def _has_record(cfg: Config) -> bool:
    return cfg.storage.path == ":memory:" or Path(cfg.storage.path).exists()


@contextmanager
def _store(cfg: Config) -> Iterator[CapacityStore]:
    with opened(_closing(CapacityStore, cfg.storage.path), cfg.storage.path) as store:
        yield store


@contextmanager
def _closing(cls: type[CapacityStore], path: str) -> Iterator[CapacityStore]:
    store = cls(path)
    try:
        yield store
    finally:
        store.close()


def capacity_report_section(cfg: Config, month: str) -> dict[str, Any]:
    """The ``capacity`` section of ``slaguard report`` for ``month`` (runs that started
    in it, with verdicts); an empty one when the record has no capacity runs yet."""
    period = parse_month(month, cfg.timezone)
    if not _has_record(cfg):
        return {"runs": [], "verdicts": {}, "rule": RULE}
    with _store(cfg) as store:
        return capacity_section(store, period)


def add_capacity(doc: dict[str, Any], cfg: Config, month: str) -> dict[str, Any]:
    """``slaguard report``'s document with its ``capacity`` section, and each outage that
    overlaps a run flagged ``capacity_runs`` (still counted: customers saw it)."""
    doc["capacity"] = capacity_report_section(cfg, month)
    if _has_record(cfg):
        period = parse_month(month, cfg.timezone)
        with _store(cfg) as store:
            annotate_outages(doc, store.windows(period.start_ms, period.end_ms))
    return doc


def _verdict_line(doc: dict[str, Any]) -> str:
    t = doc["total"]
    why = doc.get("aborted_by") or doc.get("invalid_reason")
    line = (f"{doc['id']} {doc['job']}: {doc['verdict'].upper()}  peak {doc['peak_users']} users, "
            f"{t['count']} requests, {t['failures']} failed, p95 {t['p95_ms']} ms, mean "
            f"{t['mean_ms']} ms")
    return line + (f"\n  because: {why}" if why else "")


def detail(doc: dict[str, Any]) -> str:
    """A run for a terminal: the verdict, thresholds, endpoints."""
    lines = [_verdict_line(doc) if doc.get("total") else f"{doc['id']} {doc['job']}: "
             f"{doc['verdict']}",
             f"  {doc['start']} → {doc.get('end') or 'running'}, started by {doc['started_by']}"]
    for t in doc.get("thresholds") or []:
        lines.append(f"  {'pass' if t['pass'] else 'FAIL'}  {t['expr']}  (observed "
                     f"{t['observed']})")
    for e in doc.get("endpoints") or []:
        lines.append(f"  {e['name']}: {e['count']} requests, {e['failures']} failed, mean "
                     f"{e['mean_ms']} p50 {e['p50_ms']} p95 {e['p95_ms']} p99 {e['p99_ms']} "
                     f"max {e['max_ms']} ms")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    cfg = load(args.config)
    try:  # before the record is opened: a typo must not create one
        job_named(cfg.capacity, args.job)
    except UnknownJob as e:
        raise UsageError(str(e)) from None
    with _store(cfg) as store:
        runner = CapacityRunner(Settings.from_config(cfg, args.config), store)

        def interrupted(signum: int, frame: FrameType | None) -> None:
            # Stopped like a kill: Locust ends, the run is recorded (aborted).
            kill_path(cfg.storage.path).write_text("Ctrl-C on slaguard capacity run",
                                                   encoding="utf-8")

        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, interrupted) if main_thread else None
        try:
            doc = runner.run(args.job, f"cli:{default_actor()}",
                             lambda line: print(line, file=sys.stderr, flush=True))
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)
    print(_verdict_line(doc))
    return EXIT_OK if doc["verdict"] == "passed" else EXIT_FAIL


def cmd_list(args: argparse.Namespace) -> int:
    from capacity.api import summary

    cfg = load(args.config)
    docs: list[dict[str, Any]] = []
    if _has_record(cfg):  # reading never creates a record
        with _store(cfg) as store:
            docs = [summary(d) for d in store.listing(max(1, min(args.limit, 1000)))]
    if args.json:
        print(json.dumps({"runs": docs}, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not docs:
        print("no capacity runs")
        return EXIT_OK
    for d in docs:
        why = d["aborted_by"] or d["invalid_reason"] or ""
        print(f"{d['id']:<8} {d['job']:<20} {d['start']}  {d['verdict']:<8} peak "
              f"{d['peak_users']} users  p95 {d['p95_ms']} ms" + (f"  ({why})" if why else ""))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    cfg = load(args.config)
    if not _has_record(cfg):
        raise UsageError(f"no record at {cfg.storage.path} (storage.path), so no run "
                         f"{args.run}")
    with _store(cfg) as store:
        try:
            doc = store.get(args.run)
        except RunNotFound as e:
            raise UsageError(str(e)) from None
    text = (json.dumps(doc, ensure_ascii=False, indent=2) if args.format == "json"
            else render_page(doc) if args.format == "html" else detail(doc))
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return EXIT_OK


def cmd_kill(args: argparse.Namespace) -> int:
    client = client_for(args, write=True)
    doc = client.call("POST", "/api/v1/capacity/kill", {"by": args.by})
    print(f"{doc['killed']} told to stop (by {args.by}); it stops within 5 s")
    return EXIT_OK

