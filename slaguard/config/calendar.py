"""The working-day calendar a configuration asks for (with its YAML override file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from slaguard.config.schema import Config
from slaguard.errors import ConfigError
from slo.calendar import WorkingDayCalendar, make_calendar

OVERRIDES_PATH = "availability.maintenance.calendar_overrides"


def load_calendar(cfg: Config) -> WorkingDayCalendar:
    """The working-day calendar, with the YAML override file when configured
    (a relative path was resolved against the config file's folder at load)."""
    policy = cfg.availability.maintenance
    overrides: Any = None
    if policy.calendar_overrides:
        path = Path(policy.calendar_overrides)
        try:
            overrides = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError([f"{OVERRIDES_PATH}: cannot read {path}: {e}"]) from None
    try:
        return make_calendar(policy.calendar, overrides)
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigError([f"{OVERRIDES_PATH}: {e}"]) from None
