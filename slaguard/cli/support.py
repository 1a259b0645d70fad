"""``slaguard import-support FILE`` and the support section of ``slaguard report``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from compensation.support import Known, SupportDesk, SupportStore, import_support
from slaguard.cli.common import EXIT_OK, load, opening_record, readable
from slaguard.config import Config
from slaguard.config.calendar import load_calendar
from slaguard.errors import StoreError
from slo.periods import parse_month
from slo.support import EXCLUSIONS


def add_import_support_arguments(sp: argparse.ArgumentParser) -> None:
    """``slaguard import-support``: the arguments of :func:`cmd_import_support`."""
    sp.add_argument("file", help="interactions as JSON Lines or CSV (by extension or content)")


def cmd_import_support(args: argparse.Namespace) -> int:
    """Import support interactions: all of the file or, at its first bad line, nothing
    (exit 1 naming the line and field; exit 2 for the configuration or the record)."""
    cfg = load(args.config)
    path = readable(args.file)
    with opening_record(cfg.storage.path):
        store = SupportStore(cfg.storage.path)
    try:
        stats = import_support(store, path, Known({c.id for c in cfg.customers}))
    finally:
        store.close()
    print(f"{args.file}: {stats.lines} interactions, {stats.added} added, {stats.updated} "
          f"filled in, {stats.unchanged} unchanged ({stats.seconds:.1f} s)")
    return EXIT_OK


@contextmanager
def desk_for(cfg: Config) -> Iterator[SupportDesk]:
    """The support desk over an existing record, for one-shot commands."""
    if cfg.storage.path != ":memory:" and not Path(cfg.storage.path).exists():
        raise StoreError(f"no record at {cfg.storage.path} (storage.path; relative paths "
                         "are beside the config file)")
    calendar = load_calendar(cfg)
    with opening_record(cfg.storage.path):
        store = SupportStore(cfg.storage.path)
    try:
        yield SupportDesk.from_config(cfg, store, calendar)
    finally:
        store.close()


def support_section(cfg: Config, month: str, now_ms: int, customer: str | None = None
                    ) -> dict[str, Any]:
    """The ``support`` section of ``slaguard report --format json`` for ``month``
    (``ValueError`` for a malformed month, as ``Evaluator.month``)."""
    period = parse_month(month, cfg.timezone)
    with desk_for(cfg) as desk:
        return desk.report(period, now_ms, customer).to_dict()


def _late(ms: int) -> str:
    """``734400000`` → ``204h00m00s``; milliseconds shown only when there are some."""
    s, milli = divmod(ms, 1000)
    h, rem = divmod(s, 3600)
    text = f"{h}h{rem // 60:02d}m{rem % 60:02d}s" if h else f"{rem // 60}m{rem % 60:02d}s"
    return text + (f" {milli} ms" if milli else "") if s else f"{milli} ms"


def _pct(row: dict[str, Any]) -> str:
    return "n/a" if row["compliance_percent"] is None else row["compliance_percent"] + "%"


def _excluded(row: dict[str, Any]) -> str:
    return ", ".join(f"{row['excluded'][r]} {r}" for r in EXCLUSIONS if row["excluded"][r]) \
        or "-"


def render_support_table(doc: dict[str, Any]) -> str:
    """The support section for a terminal (from the JSON form, as the report's table)."""
    p = doc["period"]
    rules = {(r["channel"], r["commitment"]): r["rule"] for r in doc["rules"]}
    lines = [f"Support desk {p['label']} ({p['timezone']})"
             + ("" if p["complete"] else f", to date ({p['evaluated_until']})"), ""]
    rows = [[r["channel"], r["commitment"], str(r["total"]), str(r["met"]), str(r["missed"]),
             _excluded(r), str(r["not_judged"]), _pct(r)]
            for r in doc["channels"]]
    rows += [["all", r["commitment"], str(r["total"]), str(r["met"]), str(r["missed"]),
              _excluded(r), str(r["not_judged"]), _pct(r)] for r in doc["commitments"]]
    o = doc["overall"]
    rows.append(["all", "all", str(o["total"]), str(o["met"]), str(o["missed"]), _excluded(o),
                 str(o["not_judged"]), _pct(o)])
    headers = ["channel", "commitment", "total", "met", "missed", "excluded", "not judged",
               "compliance"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for r in [headers, ["-" * w for w in widths], *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for r in doc["channels"]:
        key = (r["channel"], r["commitment"])
        lines.append(f"  {key[0]} {key[1]}: {rules[key]}")
        for w in r["worst"]:
            late = "" if w["late_ms"] is None else f", {_late(w['late_ms'])} late"
            lines.append(f"    {w['id']} ({w['customer']}) {w['start']}: {w['status']}"
                         f"{' ' + w['reason'] if w['reason'] else ''}{late}")
        if r["needs_review"]:
            lines.append(f"    for a person (no calendar data): {', '.join(r['needs_review'])}")
    for c in doc["customers"]:
        lines.append(f"  customer {c['customer']}: {_pct(c['overall'])} of "
                     f"{c['overall']['counted']} counted, {c['overall']['missed']} missed")
    return "\n".join(lines) + "\n"
