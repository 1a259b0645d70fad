"""The ``slaguard`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from slaguard import eventloop
from slaguard.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    exit_code,
    load,
    opened,
    opening_record,
    os_problem,
    readable,
    readable_dir,
)
from slaguard.config import ConfigError
from slaguard.errors import SlaguardError

DEFAULT_CONFIG = "slaguard.yaml"


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load(args.config)
    print(f"{args.config}: ok ({len(cfg.targets)} targets, {len(cfg.services)} services, "
          f"{len(cfg.customers)} customers)")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from slaguard.app import App

    cfg = load(args.config)
    with opening_record(cfg.storage.path):
        app = App(cfg, config_path=args.config)  # named in notifications' ack command
    with contextlib.suppress(KeyboardInterrupt):
        eventloop.run(app.run_forever())
    return EXIT_OK


def cmd_probe(args: argparse.Namespace) -> int:
    from probes import PROBES, close_connectors, warm_up
    from probes.base import ProbeContext
    from probes.browser import close_browser
    from slaguard.domain import Outcome, ProbeResult, to_json_line

    cfg = load(args.config)
    try:
        target = cfg.target(args.target)
    except KeyError:
        names = ", ".join(t.name for t in cfg.targets)
        print(f"error: no target named {args.target!r} (targets: {names})", file=sys.stderr)
        return EXIT_USAGE
    ctx = ProbeContext(location=args.location or cfg.location)
    async def once() -> ProbeResult:
        try:
            # The process's one-time set-up, before the clock: the one probe this
            # command runs is a first probe, and must read like any other.
            await warm_up([target], ctx)
            return await PROBES[target.kind](target, ctx)
        finally:
            await close_connectors(ctx)
            await close_browser(ctx)

    result = eventloop.run(once())
    print(to_json_line(result))
    return EXIT_OK if result.outcome is Outcome.SUCCESS else EXIT_FAIL


def cmd_import(args: argparse.Namespace) -> int:
    from slaguard.importer import Known, Progress, import_results
    from slaguard.store import SQLiteStore

    cfg = load(args.config)
    readable(args.file)
    with opening_record(cfg.storage.path):
        store = SQLiteStore(cfg.storage.path)
    try:
        stats = import_results(store, args.file, Known.from_config(cfg), progress=Progress())
    finally:
        store.close()
    print(f"{args.file}: {stats.lines} lines, {stats.added} results added, "
          f"{stats.duplicates} already in the record ({stats.seconds:.1f} s)")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from capacity.report import render_capacity_table
    from exporters.report_table import render
    from probes.base import wall_ms
    from slaguard.app import evaluator_for
    from slaguard.cli.capacity import add_capacity
    from slaguard.cli.support import render_support_table, support_section

    cfg = load(args.config)
    if args.service and args.service not in cfg.services:
        print(f"error: no service named {args.service!r} (services: "
              f"{', '.join(cfg.services)})", file=sys.stderr)
        return EXIT_USAGE
    with opened(evaluator_for(cfg), cfg.storage.path) as evaluator:
        month = args.month or slo_month(wall_ms(), cfg.timezone)
        try:
            report = evaluator.month(month, wall_ms(), [args.service] if args.service else None)
        except ValueError as e:
            print(f"error: --month: {e}", file=sys.stderr)
            return EXIT_USAGE
    doc = report.to_dict()
    doc["support"] = support_section(cfg, month, wall_ms())
    add_capacity(doc, cfg, month)  # the month's runs; outages under a load test flagged
    print(json.dumps(doc, ensure_ascii=False, indent=2) if args.format == "json"
          else render(doc) + "\n" + render_support_table(doc["support"]) + "\n"
          + render_capacity_table(doc["capacity"]),
          end="\n" if args.format == "json" else "")
    return EXIT_OK


def cmd_import_incidents(args: argparse.Namespace) -> int:
    from compensation.incidents_import import Known, import_incidents

    cfg = load(args.config)
    known = Known(priorities=set(cfg.incidents.priorities) or None,
                  customers={c.id for c in cfg.customers}, services=set(cfg.services))
    stats = import_incidents(cfg.storage.path, readable(args.file), known)
    print(f"{args.file}: {stats.lines} incidents, {stats.added} added, {stats.updated} updated, "
          f"{stats.unchanged} unchanged ({stats.seconds:.1f} s)")
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    from alerting.promrules import RULES_FILE
    from alerting.rulefiles import write_rules
    from exporters.scrape_config import SCRAPE_FILE, holds_secret, render_scrape_config

    cfg = load(args.config)
    out = Path(args.output)
    for path in write_rules(cfg, out):
        print(path)
    scrape = out / SCRAPE_FILE
    scrape.write_text(render_scrape_config(cfg, RULES_FILE), encoding="utf-8")
    if holds_secret(cfg):
        scrape.chmod(0o600)
    print(scrape)
    return EXIT_OK


def cmd_grafana_build(args: argparse.Namespace) -> int:
    from grafana.build import build

    cfg = load(args.config) if args.config else None
    for path in build(cfg, Path(args.output)):
        print(path)
    return EXIT_OK


def cmd_grafana_publish(args: argparse.Namespace) -> int:
    from alerting.store import AlertingStore
    from grafana.publish import publish

    if not args.url.startswith(("http://", "https://")):
        raise UsageError(f"--url: expected Grafana's base URL such as http://grafana:3000, "
                         f"got {args.url!r}")
    if args.dir:
        readable_dir(args.dir)
    cfg = load(args.config)
    auth: str | tuple[str, str] | None = args.token
    if args.user:
        user, _, password = args.user.partition(":")
        auth = (user, password)
    with opening_record(cfg.storage.path):
        records = AlertingStore(cfg.storage.path)
    try:
        incidents = [{"id": i.public_id, "start": i.opened_ms, "end": i.resolved_ms,
                      "title": i.title, "priority": i.priority.value, "service": i.service}
                     for i in records.recent_incidents(500)]
    finally:
        records.close()
    result = publish(args.url, auth, Path(args.dir) if args.dir else None, cfg=cfg,
                     maintenance=cfg.maintenance, incidents=incidents)
    print(result)
    return EXIT_OK


def slo_month(now_ms: int, tz: str) -> str:
    from slo import month_containing

    return month_containing(now_ms, tz).label


def build_parser() -> argparse.ArgumentParser:
    from slaguard.cli.capacity import add_capacity_parser
    from slaguard.cli.demo import cmd_demo
    from slaguard.cli.incidents import add_incidents_arguments, cmd_incidents
    from slaguard.cli.openslo import add_openslo_parser
    from slaguard.cli.statements import (
        add_claim_arguments,
        add_generate_arguments,
        add_statement_arguments,
        cmd_claim,
        cmd_generate_statements,
        cmd_statement,
    )
    from slaguard.cli.support import add_import_support_arguments, cmd_import_support

    p = argparse.ArgumentParser(prog="slaguard", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str,
            config: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        if config:
            sp.add_argument("-c", "--config", default=DEFAULT_CONFIG,
                            help=f"configuration file (default ./{DEFAULT_CONFIG})")
        sp.set_defaults(fn=fn)
        return sp

    add("run", cmd_run, "probe, evaluate, alert and serve")
    add("check-config", cmd_check_config, "validate a configuration; exit 2 on errors")
    sp = add("probe", cmd_probe, "run one probe now and print its result as one JSON line")
    sp.add_argument("target")
    sp.add_argument("--location", help="location label for the result (default: config)")
    sp = add("import-results", cmd_import, "import results from an interchange JSONL file")
    sp.add_argument("file")
    sp = add("report", cmd_report, "availability, budgets, latency, RPO/RTO for a month")
    sp.add_argument("--month", help="YYYY-MM in the configured time zone (default: this month)")
    sp.add_argument("--service", help="only this service's availability")
    sp.add_argument("--format", choices=["table", "json"], default="table")
    sp = add("import-incidents", cmd_import_incidents,
             "import incidents (tickets from other systems) from a JSONL file")
    sp.add_argument("file")
    sp = add("incidents", cmd_incidents, "list, show, acknowledge, restore and resolve "
             "incidents through the running slaguard's API", config=False)
    add_incidents_arguments(sp)
    sp = add("import-support", cmd_import_support,
             "import support-desk interactions from a JSONL or CSV file")
    add_import_support_arguments(sp)
    sp = add("statement", cmd_statement, "a customer's compensation statement for a month")
    add_statement_arguments(sp)
    sp = add("generate-statements", cmd_generate_statements,
             "freeze a closed month's statements for every customer")
    add_generate_arguments(sp)
    sp = add("claim", cmd_claim, "compensation claims (the six steps of the SLA)")
    add_claim_arguments(sp)
    sp = add("rules", cmd_rules, "write Prometheus rules, its scrape job for /metrics and "
             "an Alertmanager config")
    sp.add_argument("-o", "--output", required=True, help="directory to write into")
    grafana = sub.add_parser("grafana", help="dashboards as code: build or publish")
    gsub = grafana.add_subparsers(dest="grafana_command", required=True)
    sp = gsub.add_parser("build", help="write dashboards and provisioning files")
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("-c", "--config", default=None,
                    help="time zone, currency and RPO from this config (default: defaults)")
    sp.set_defaults(fn=cmd_grafana_build)
    sp = gsub.add_parser("publish", help="publish dashboards and annotations to a Grafana")
    sp.add_argument("--url", required=True)
    sp.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    sp.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN"),
                    help="service account token (default $GRAFANA_TOKEN)")
    sp.add_argument("--user", help="user:password for basic auth instead of a token")
    sp.add_argument("--dir", help="publish these dashboard files (default: build from config)")
    sp.set_defaults(fn=cmd_grafana_publish)
    add_openslo_parser(sub, DEFAULT_CONFIG)
    add_capacity_parser(sub, DEFAULT_CONFIG)
    sp = add("demo", cmd_demo, "run everything on a built-in simulated platform", config=False)
    sp.add_argument("--port", type=int, default=9108, help="slaguard's port (default 9108)")
    sp.add_argument("--data-dir", default="demo-data", help="where the demo keeps its store")
    sp.add_argument("--duration", type=float, default=None,
                    help="stop after this many seconds (default: run until Ctrl-C)")
    sp.add_argument("--speed", type=float, default=1.0,
                    help="compress the fault script by this factor (tests use > 1)")
    sp.add_argument("--capacity", metavar="JOB", choices=("within-capacity", "past-the-knee"),
                    help="also run this capacity job against the platform and print its verdict")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # one line per probe run drowns what matters
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        return int(args.fn(args))
    except ConfigError as e:
        print(f"{getattr(args, 'config', 'config')}: {len(e.errors)} error(s)", file=sys.stderr)
        for err in e.errors:
            print(f"  {err}", file=sys.stderr)
        return EXIT_USAGE
    except SlaguardError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_code(e)
    except OSError as e:  # a path the command was given (-o DIR) cannot be used
        print(f"error: {os_problem(e)}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.Error as e:  # the record failed under a command (not at opening)
        print(f"error: the record: {e}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
