"""Windowed objectives (OpenSLO's SLO shape): an SLI, a target, a window (rolling N
days or the calendar month), a budgeting method, and burn-rate alerts.

Placeholder: the rolling-window evaluator's settings land here.
"""

from __future__ import annotations

from slaguard.config.types import Strict


class WindowedObjective(Strict):
    pass
