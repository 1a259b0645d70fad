"""slaguard slo: pure SLO evaluation (timelines, availability, budgets, burn rates,
latency, RPO/RTO, working-day calendars).  No I/O, no clock: ``now_ms`` is always
an argument.  The entry points most callers need are re-exported here.
"""

from slo.calendar import CalendarUnknown, WorkingDayCalendar, make_calendar
from slo.evaluator import (
    build_report,
    month_report,
    report_from_results,
    runs_window,
    series_runs_from_results,
    service_burn,
)
from slo.latency import LatencyHistogram, LatencyHistograms, LatencySample, LatencySeries
from slo.model import Policy
from slo.periods import Period, month, month_containing, parse_month
from slo.recovery import FreshnessSample
from slo.report import Report
from slo.runs import Run, RunBuilder, runs_from_results
from slo.timeline import SeriesRuns

__all__ = [
    "CalendarUnknown",
    "FreshnessSample",
    "LatencyHistogram",
    "LatencyHistograms",
    "LatencySample",
    "LatencySeries",
    "Period",
    "Policy",
    "Report",
    "Run",
    "RunBuilder",
    "SeriesRuns",
    "WorkingDayCalendar",
    "build_report",
    "make_calendar",
    "month",
    "month_containing",
    "month_report",
    "parse_month",
    "report_from_results",
    "runs_from_results",
    "runs_window",
    "series_runs_from_results",
    "service_burn",
]
