"""``slaguard statement``, ``generate-statements`` and ``claim``: compensation from the
command line, over the record that ``slaguard.app.evaluator_for`` opens."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from compensation.archive import FORMATS, StatementArchive
from compensation.claims import STEPS, Actor, Claim, ClaimService, ClaimStore, claim_json
from compensation.lifecycle import Rendered, StatementLifecycle
from slaguard.app import evaluator_for
from slaguard.cli import clock
from slaguard.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    default_actor,
    load,
    opened,
    opening_record,
)
from slaguard.config import Config
from slo.periods import previous_month


@contextmanager
def lifecycle_for(cfg: Config) -> Iterator[StatementLifecycle]:
    """A lifecycle over the record, for one-shot commands.  The record is opened
    first: the archive alone would create an empty one and credit nothing."""
    with opened(evaluator_for(cfg), cfg.storage.path) as evaluator:
        with opening_record(cfg.storage.path):
            archive = StatementArchive(cfg.storage.path)
        try:
            yield StatementLifecycle(evaluator, archive)
        finally:
            archive.close()


def add_statement_arguments(sp: argparse.ArgumentParser) -> None:
    """``slaguard statement``: the arguments of ``cmd_statement``."""
    sp.add_argument("--customer", required=True)
    sp.add_argument("--month", required=True, help="YYYY-MM in the configured time zone")
    sp.add_argument("--format", choices=list(FORMATS), default="json")
    sp.add_argument("-o", "--output", help="write to this file instead of stdout")
    sp.add_argument("--version", type=int, dest="statement_version",
                    help="an archived version of a frozen statement (default: the latest)")
    sp.add_argument("--reissue", action="store_true",
                    help="record a new version of a frozen statement (needs --reason)")
    sp.add_argument("--reason", help="why the statement is reissued (kept with the version)")
    sp.add_argument("--by", default=default_actor(), help="who reissues (default: $USER)")


def _write(rendered: Rendered, output: str | None) -> None:
    if output:
        Path(output).write_bytes(rendered.body)  # bytes as archived: CSV keeps its CRLF
    else:
        sys.stdout.buffer.write(rendered.body)
        sys.stdout.flush()


def cmd_statement(args: argparse.Namespace) -> int:
    """Print (or write) a statement; ``--reissue --reason`` records a new version first."""
    if args.reissue and not (args.reason or "").strip():
        print("error: --reissue needs --reason TEXT", file=sys.stderr)
        return EXIT_USAGE
    cfg = load(args.config)
    now = clock.now_ms()
    try:
        with lifecycle_for(cfg) as lc:
            version = args.statement_version
            if args.reissue:
                version = lc.reissue(args.customer, args.month, now, args.by, args.reason).version
            rendered = lc.render(args.customer, args.month, args.format, now, version)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    _write(rendered, args.output)
    print(f"{rendered.filename}: {rendered.note}; total {rendered.total} "
          f"{cfg.compensation.currency}; sha256 {rendered.hash}", file=sys.stderr)
    return EXIT_OK


def add_generate_arguments(sp: argparse.ArgumentParser) -> None:
    """``slaguard generate-statements``: the arguments of ``cmd_generate_statements``."""
    sp.add_argument("--month", help="YYYY-MM (default: last month)")
    sp.add_argument("--force", action="store_true",
                    help="freeze even before the generation day or when the calendar has no "
                         "data for the year (a person decided)")
    sp.add_argument("--reason", help="why (kept with each version; default: the rule applied)")
    sp.add_argument("--by", default=default_actor(), help="who generates (default: $USER)")


def cmd_generate_statements(args: argparse.Namespace) -> int:
    """Freeze a closed month's statements for every customer (what the job does)."""
    cfg = load(args.config)
    now = clock.now_ms()
    month = args.month or previous_month(now, cfg.timezone).label
    try:
        with lifecycle_for(cfg) as lc:
            gen = lc.freeze_month(month, now, by=args.by, reason=args.reason, force=args.force)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{gen.month}: {gen.generated} statements frozen, {gen.already} already frozen")
    return EXIT_OK


@contextmanager
def claims_for(cfg: Any) -> Iterator[ClaimService]:
    """A claim service over the record, for one-shot commands."""
    with lifecycle_for(cfg) as lifecycle:
        with opening_record(cfg.storage.path):
            store = ClaimStore(cfg.storage.path)
        try:
            yield ClaimService(store, lifecycle, lambda: clock.now_ms())
        finally:
            store.close()


def add_claim_arguments(sp: argparse.ArgumentParser) -> None:
    """``slaguard claim ACTION …``: the sub-commands of ``cmd_claim``."""
    sub = sp.add_subparsers(dest="claim_command", required=True, metavar="ACTION")

    def action(name: str, help_: str, with_id: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        # SUPPRESS: given here it overrides, absent it keeps the parent's -c.
        p.add_argument("-c", "--config", default=argparse.SUPPRESS,
                       help="configuration file (default ./slaguard.yaml)")
        if with_id:
            p.add_argument("id", help="the claim, e.g. CLM-7")
        if name not in ("show", "list"):
            p.add_argument("--by", default=default_actor(),
                           help="who takes the step (default: $USER)")
        return p

    p = action("submit", "step 1: a customer's claim with its evidence", with_id=False)
    p.add_argument("--customer", required=True)
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--description", required=True)
    p.add_argument("--evidence", action="append", default=[], help="text or link (repeatable)")
    p.add_argument("--start", help="start of the stated period, RFC 3339 (default: the month)")
    p.add_argument("--end", help="end of the stated period, RFC 3339 (default: the month)")
    action("review", "step 2: operations reviews the claim").add_argument("--note", default="")
    action("confirm-technical", "step 3: attach the measured outages and confirm").add_argument(
        "--note", default="")
    action("compute", "step 4: attach the month's frozen statement")
    action("confirm", "step 5: the customer's confirmation (given to staff)").add_argument(
        "--settlement", choices=["fee_reduction", "extension"])
    action("execute", "step 6: the credit was applied").add_argument(
        "--reference", default="", help="e.g. the credit note or the contract amendment")
    action("reject", "reject the claim (terminal)").add_argument("--reason", required=True)
    action("show", "a claim with its audit log")
    p = action("list", "claims, newest first", with_id=False)
    p.add_argument("--customer")
    p.add_argument("--month")
    p.add_argument("--state", choices=[s for s, _, _ in STEPS] + ["rejected"])


def _run_claim(svc: ClaimService, args: argparse.Namespace) -> Any:
    tz, cmd = svc.timezone, args.claim_command
    if cmd == "list":
        found = svc.find(Actor("cli", "staff"), args.customer, args.month, args.state)
        return {"claims": [claim_json(c, tz) for c in found]}
    if cmd == "show":
        claim, log = svc.get(args.id, Actor("cli", "staff"))
        return {"claim": claim_json(claim, tz, log)}
    actor = Actor.staff(args.by)
    if cmd == "submit":
        new = svc.new_claim(args.customer, args.month, args.description, args.evidence,
                            args.start, args.end)
        return {"claim": claim_json(svc.submit(new, actor), tz)}
    steps: dict[str, Callable[[], Claim]] = {
        "review": lambda: svc.review(args.id, actor, args.note),
        "confirm-technical": lambda: svc.confirm_technical(args.id, actor, args.note),
        "compute": lambda: svc.compute(args.id, actor),
        "confirm": lambda: svc.confirm(args.id, actor, args.settlement),
        "execute": lambda: svc.execute(args.id, actor, args.reference),
        "reject": lambda: svc.reject(args.id, actor, args.reason),
    }
    return {"claim": claim_json(steps[cmd](), tz)}


def cmd_claim(args: argparse.Namespace) -> int:
    """``slaguard claim submit|review|confirm-technical|compute|confirm|execute|reject|show|list``.

    Staff actions from the command line (``--by`` names the person); a claim
    error prints ``error: …`` and exits 1, bad input exits 2."""
    cfg = load(args.config)
    try:
        with claims_for(cfg) as svc:
            doc = _run_claim(svc, args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(doc, ensure_ascii=False, indent=2))
    return EXIT_OK
