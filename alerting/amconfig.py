"""An Alertmanager configuration that hands slaguard's alerts back to slaguard.

Alerts from the exported rules (``alerting.promrules``) carry a ``priority``
label; each priority gets its own route to slaguard's inbound webhook
(``/api/v1/alertmanager``), which opens incidents and runs the response clocks
and escalation itself.  So the routes only decide how fast Alertmanager
delivers: P1 at once, P4 in no hurry, and a repeat at least once per response
time of the priority, so that a lost delivery cannot make slaguard miss it.

The always-firing ``Watchdog`` (``alerting.promrules.watchdog_rule``) goes to the
``heartbeat`` receiver every minute: a webhook to ``heartbeat.watchdog_url``, an
external dead man's switch (a healthchecks.io-style check) that pages when the
Watchdog stops arriving, that is when Prometheus, the rules or Alertmanager are
down.  Without that URL the receiver has no destination (fill one in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from alerting.promrules import (
    ERROR_BUDGET_BURN,
    PRIORITIES,
    SERVICE_DOWN,
    WATCHDOG,
    dump_yaml,
)
from slaguard.config.schema import Config
from slaguard.units import format_duration

ALERTMANAGER_FILE = "alertmanager.yml"
WEBHOOK_PATH = "/api/v1/alertmanager"
RECEIVER = "slaguard"
DISCARD = "discard"
HEARTBEAT_RECEIVER = "heartbeat"
# The Watchdog's cadence: at once, then every minute (healthchecks-style checks take a
# period and a grace; a period of a few minutes leaves room for a lost delivery).
WATCHDOG_REPEAT = timedelta(minutes=1)
# Where to put server.api_token when the configuration does not hold it.
CREDENTIALS_FILE_PLACEHOLDER = "/etc/alertmanager/slaguard-api-token"


@dataclass(frozen=True)
class RouteTiming:
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta  # used when the configuration has no `respond` for it


DEFAULT_TIMINGS: Mapping[str, RouteTiming] = MappingProxyType({
    "P1": RouteTiming(timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=15)),
    "P2": RouteTiming(timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=30)),
    "P3": RouteTiming(timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=2)),
    "P4": RouteTiming(timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=8)),
})


def webhook_url(cfg: Config) -> str:
    """slaguard's inbound webhook on ``server.listen``; a wildcard address means this host."""
    host = cfg.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{cfg.server.port}{WEBHOOK_PATH}"


def _inline_token(cfg: Config, credentials_file: str | None) -> str | None:
    """The token to write into the file, or None to point at a credentials file."""
    return cfg.server.api_token if credentials_file is None else None


def _authorization(cfg: Config, credentials_file: str | None) -> dict[str, str]:
    token = _inline_token(cfg, credentials_file)
    if token:
        return {"type": "Bearer", "credentials": token}
    return {"type": "Bearer", "credentials_file": credentials_file or CREDENTIALS_FILE_PLACEHOLDER}


def _route(priority: str, timing: RouteTiming, respond: timedelta | None) -> dict[str, Any]:
    repeat = respond if respond is not None else timing.repeat_interval
    return {
        "receiver": RECEIVER,
        "matchers": [f'priority="{priority}"'],
        "group_wait": format_duration(timing.group_wait),
        "group_interval": format_duration(timing.group_interval),
        # Alertmanager repeats only on group_interval ticks: never ask for less.
        "repeat_interval": format_duration(max(repeat, timing.group_interval)),
    }


def _watchdog_route() -> dict[str, Any]:
    every = format_duration(WATCHDOG_REPEAT)
    return {"receiver": HEARTBEAT_RECEIVER, "matchers": [f'alertname="{WATCHDOG}"'],
            "group_wait": "0s", "group_interval": every, "repeat_interval": every}


def _heartbeat_receiver(cfg: Config) -> dict[str, Any]:
    url = cfg.heartbeat.watchdog_url
    if url is None:
        return {"name": HEARTBEAT_RECEIVER}
    # Resolved never comes (it always fires); the receiver only needs the POST itself.
    return {"name": HEARTBEAT_RECEIVER,
            "webhook_configs": [{"url": url, "send_resolved": False}]}


def alertmanager_config(cfg: Config, *, url: str | None = None,
                        credentials_file: str | None = None,
                        timings: Mapping[str, RouteTiming] = DEFAULT_TIMINGS) -> dict[str, Any]:
    respond: dict[str, timedelta] = {p: v.respond for p, v in cfg.incidents.priorities.items()}
    return {
        "route": {
            "receiver": DISCARD,
            "group_by": ["alertname", "service"],
            "routes": [
                # The dead man's switch first: it has no priority and must never be held.
                _watchdog_route(),
                # slaguard's own alerts (its `alertmanager` channel labels them with
                # `incident`) must never come back to its webhook: that would loop.
                {"receiver": DISCARD, "matchers": ['incident=~".+"']},
                *(_route(p, timings[p], respond.get(p)) for p in PRIORITIES),
            ],
        },
        # A page already holds the service's attention: its slow-burn tickets wait.
        "inhibit_rules": [{
            "source_matchers": ['severity="page"',
                                f'alertname=~"{SERVICE_DOWN}|{ERROR_BUDGET_BURN}"'],
            "target_matchers": ['severity="ticket"', f'alertname="{ERROR_BUDGET_BURN}"'],
            "equal": ["service"],
        }],
        "receivers": [
            {"name": RECEIVER, "webhook_configs": [{
                "url": url or webhook_url(cfg),
                "send_resolved": True,  # slaguard records restoration from it
                "http_config": {"authorization": _authorization(cfg, credentials_file)},
                "max_alerts": 0,
            }]},
            _heartbeat_receiver(cfg),
            {"name": DISCARD},
        ],
    }


_HEADER = """\
Alertmanager configuration for slaguard, generated by `slaguard rules`: do not edit.
Alerts with a priority label (P1-P4) go to slaguard's inbound webhook, which opens
incidents and escalates; everything else ends in `discard`: add your own routes there.
"""


def render_alertmanager(cfg: Config, *, url: str | None = None,
                        credentials_file: str | None = None,
                        timings: Mapping[str, RouteTiming] = DEFAULT_TIMINGS) -> str:
    doc = alertmanager_config(cfg, url=url, credentials_file=credentials_file, timings=timings)
    header = _HEADER
    if cfg.heartbeat.watchdog_url is None:
        header += ("The always-firing Watchdog goes to the `heartbeat` receiver, which has no "
                   "destination:\nset heartbeat.watchdog_url (an external dead man's switch) "
                   "and generate again.\n")
    if not _inline_token(cfg, credentials_file):
        header += "Put slaguard's server.api_token into the credentials_file.\n"
    return dump_yaml(doc, header)
