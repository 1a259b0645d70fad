"""The ``support:`` block: the support desk's commitments (客户支持体系).

The defaults are the service standard's numbers:

* ``chat`` (在线客服, 7×24小时, "30秒内接通"): answered ``within: 30s`` (30 s is met);
* ``hotline`` (400服务热线, "工作日 9:00-18:00", "等待时间 <2分钟"): a wait ``under: 2m``
  (exactly 2 min is not met), counted only for calls opened ``09:00-18:00`` on
  Chinese working days;
* ``email`` (邮件支持, "2个工作日内响应"): a first response by 24:00 of the 2nd
  ``working_days`` after the day it arrived;
* ``vip`` (VIP专线: 7×24, "优先接入" with no time) and ``ticket`` (工单系统: no time in
  this section; P1–P4 response times are incidents, ``import-incidents``): no limit,
  so reported and timed, never judged;
* ``follow_up`` (满意度回访, "问题解决后24小时内"): ``within: 24h`` of resolution, for
  every channel.

Each channel states at most one of ``within`` (≤), ``under`` (<) and
``working_days``; none means no verdict.  Working days come from the calendar of
``availability.maintenance`` (``CN``: ``chinese_calendar`` and its overrides).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from slaguard.units import format_duration, parse_duration

Channel = Literal["chat", "hotline", "vip", "email", "ticket"]
CHANNELS: tuple[Channel, ...] = ("chat", "hotline", "vip", "email", "ticket")
_HOURS = re.compile(r"^([0-9]{2}):([0-9]{2})\s*-\s*([0-9]{2}):([0-9]{2})$")
# A support commitment longer than this is a unit mistake (24h written 24d), not a promise.
MAX_LIMIT = timedelta(days=31)


def _limit(value: object) -> timedelta:
    td = parse_duration(value)
    if td <= timedelta(0):
        raise ValueError(f"must be longer than 0, got {value!r}")
    if td > MAX_LIMIT:
        raise ValueError(f"{value!r} is longer than 31 days; is the unit right?")
    return td


Limit = Annotated[timedelta, BeforeValidator(_limit),
                  PlainSerializer(format_duration, return_type=str)]


def _hours(value: object) -> object:
    """``"09:00-18:00"``: from (counted) to (not counted) local time; None: all day."""
    if value is None:
        return None
    m = _HOURS.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"expected HH:MM-HH:MM such as \"09:00-18:00\", got {value!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or start >= end:
        raise ValueError(f"{value!r}: from must come before to, between 00:00 and 24:00")
    return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelCommitment(Strict):
    # Met when the answer (first response) comes at most this long after opening.
    within: Limit | None = None
    # Met only when it comes in less than this (the standard's "<").
    under: Limit | None = None
    # Met when it comes by 24:00 of the N-th working day after the day it arrived.
    working_days: Annotated[int, Field(ge=1, le=60)] | None = None
    # Only interactions opened in these hours are counted ("09:00-18:00": 09:00:00
    # counts, 18:00:00 does not); unset: around the clock.
    hours: Annotated[str | None, BeforeValidator(_hours)] = None
    # On which days: every day, or the calendar's working days only.
    days: Literal["all", "working"] = "all"

    @model_validator(mode="after")
    def _one_limit(self) -> ChannelCommitment:
        given = [k for k in ("within", "under", "working_days") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of within, under and working_days, not "
                             f"{' and '.join(given)}")
        return self


class FollowUpCommitment(Strict):
    # Met when the satisfaction follow-up comes at most this long after resolution;
    # null: follow-ups are reported, not judged.
    within: Limit | None = timedelta(hours=24)
    # The channels whose resolved interactions are followed up.
    channels: Annotated[list[Channel], Field(min_length=1)] = Field(
        default_factory=lambda: list(CHANNELS))

    @model_validator(mode="after")
    def _distinct(self) -> FollowUpCommitment:
        twice = sorted({c for c in self.channels if self.channels.count(c) > 1})
        if twice:
            raise ValueError(f"channels: {', '.join(twice)} listed twice")
        return self


class SupportPolicy(Strict):
    chat: ChannelCommitment = ChannelCommitment(within=timedelta(seconds=30))
    hotline: ChannelCommitment = ChannelCommitment(under=timedelta(minutes=2),
                                                   hours="09:00-18:00", days="working")
    vip: ChannelCommitment = ChannelCommitment()
    email: ChannelCommitment = ChannelCommitment(working_days=2)
    ticket: ChannelCommitment = ChannelCommitment()
    follow_up: FollowUpCommitment = FollowUpCommitment()
    # How many of the worst cases each row of the report lists by id.
    worst_listed: Annotated[int, Field(ge=0, le=1000)] = 10

    def channel(self, name: str) -> ChannelCommitment:
        commitment: ChannelCommitment = getattr(self, name)
        return commitment
