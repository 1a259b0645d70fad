"""Statements from the record: evaluate a customer's month and build its statement.

One path for the CLI, the API and the monthly job, so they agree to the fen.
"""

from __future__ import annotations

from collections.abc import Callable

from compensation.incidents_import import incidents_for_period
from slaguard.config import Config
from slaguard.config.schema import Customer
from slaguard.errors import SlaguardError
from slaguard.evaluation import Evaluator
from slaguard.policy import compensation_policy
from slo import Period, Report
from slo.compensation import IncidentRecord
from slo.statement import Statement, build_statement


class UnknownCustomer(SlaguardError):
    pass


def customer(cfg: Config, customer_id: str) -> Customer:
    for c in cfg.customers:
        if c.id == customer_id:
            return c
    known = ", ".join(c.id for c in cfg.customers) or "none configured"
    raise UnknownCustomer(f"no customer {customer_id!r} (customers: {known})")


def make_statement(evaluator: Evaluator, customer_id: str, month: str, now_ms: int
                   ) -> Statement:
    c = customer(evaluator.cfg, customer_id)
    return statement_from_report(evaluator, evaluator.month(month, now_ms, c.services), c,
                                 now_ms)


def statement_from_report(evaluator: Evaluator, report: Report, c: Customer, now_ms: int
                          ) -> Statement:
    """The statement of ``c`` from a report that covers its services."""
    cfg = evaluator.cfg
    # Imported tickets and slaguard's own incidents; an imported ticket with the
    # same id as one of ours is the same incident and wins (it may know data loss).
    # A ticket the statement cannot count is left out (logged, alerted), not fatal.
    imported = evaluator.usable_incidents(incidents_for_period(cfg.storage.path, report.period),
                                          f"imported {report.period.label}")
    ids = {i.id for i in imported}
    incidents = imported + [i for i in evaluator.incidents(report.period) if i.id not in ids]
    return build_statement(report, c, compensation_policy(cfg), incidents, now_ms,
                           [t.name for t in cfg.targets if t.kind == "browser"])


def imported_incidents(cfg: Config) -> Callable[[Period], list[IncidentRecord]]:
    """What ``Evaluator(imported=...)`` reads: the period's ``import-incidents`` tickets,
    so that the report's incidents section shows them beside the live ones."""
    return lambda period: incidents_for_period(cfg.storage.path, period)
