"""The support desk's commitments (客户支持体系): monthly compliance, pure.

Interactions (a chat, a call, an e-mail, a ticket) come in with integer
epoch-millisecond instants; rules, the month, a working-day calendar and ``now``
come in as arguments; a :class:`SupportReport` comes out: per channel and
commitment, per customer and overall, counts (total, counted, met, missed,
excluded by reason, not judged), the exact compliance ratio and the worst cases
by id.

Each interaction carries up to two *checks*, each with its own clock:

* ``response``: from ``opened`` to ``answered`` (the first answer or first
  response), judged by the channel's rule;
* ``follow_up``: from ``resolved`` to ``followed_up`` (满意度回访).

A check belongs to the month its clock starts in (``opened`` for a response,
``resolved`` for a follow-up), in the contract's time zone.

How the standard's words are read (every reading is the rule's ``comparison``):

* ``within`` (在线客服 "30秒内接通", 回访 "问题解决后24小时内"): met when
  ``end − start ≤ limit``: exactly at the limit is met, one millisecond more is not.
* ``under`` (400热线 "等待时间 <2分钟"): met when ``end − start < limit``: exactly
  120 s is *not* met.
* ``working_days`` (邮件 "2个工作日内响应"): the day of receipt does not count and
  the period ends at 24:00 of its last day (民法典 第二百零一条、第二百零三条: a
  period in days starts the next day; its last day ends at 24:00), counting only
  working days of the calendar (statutory holidays off, 调休 Saturdays on).  Met when
  the response comes at or before 24:00 of the N-th working day after the day the
  e-mail arrived.
* ``hours`` (400热线 "工作日 9:00-18:00"): only interactions opened in
  ``[from, to)`` local time (09:00:00 counts, 18:00:00 does not) on the days the
  rule names are counted; others are excluded as ``outside_hours``.  A call that
  entered the queue during hours is judged on its whole wait, even past 18:00.
* No limit (VIP专线 promises 优先接入 and 工单系统 no time at all in this section):
  counted and timed, never judged (``not_judged``); no compliance is claimed.

Neither side can be shown wrong by a check that cannot be decided yet, so:

* no answer yet and the limit not reached at ``now``: excluded as ``pending``;
  past it: ``missed`` (``no_answer``), late by ``now − due`` so far;
* the customer gave up (``abandoned``) before the limit: excluded as ``abandoned``
  (nobody could have been answered later); at or past it: ``missed``;
* a date the calendar has no data for: excluded as ``calendar_unknown`` and listed
  for a person (the calendar refuses to guess, as for maintenance).

Compliance = met / (met + missed) as an exact :class:`~fractions.Fraction`, shown
rounded *down* to 3 places of a percent, so it never looks better than it is.
Totals over channels or customers add counts (a ratio of sums, never a mean of
ratios).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from typing import Any, Literal

from slo.calendar import CalendarUnknown, WorkingDayCalendar
from slo.fmt import fraction_text, percent_down
from slo.periods import Period, from_ms, local_date, local_midnight_ms, rfc3339

CHANNELS = ("chat", "hotline", "vip", "email", "ticket")
# Channels on which a customer can give up waiting before anyone answers.
LIVE_CHANNELS = frozenset({"chat", "hotline", "vip"})
RESPONSE, FOLLOW_UP = "response", "follow_up"
COMMITMENTS = (RESPONSE, FOLLOW_UP)
Status = Literal["met", "missed", "excluded", "not_judged"]
# Why a check is excluded (not counted either way).
OUTSIDE_HOURS = "outside_hours"
PENDING = "pending"
ABANDONED = "abandoned"
CALENDAR_UNKNOWN = "calendar_unknown"
EXCLUSIONS = (OUTSIDE_HOURS, PENDING, ABANDONED, CALENDAR_UNKNOWN)
# A working-day deadline further than this many calendar days is a calendar error.
MAX_SEARCH_DAYS = 366


# -- inputs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interaction:
    """One contact with the support desk; instants in epoch ms, None for "not (yet)"."""

    id: str
    channel: str
    customer: str
    opened_ms: int
    answered_ms: int | None = None  # first answer (chat, calls) or first response (e-mail)
    abandoned_ms: int | None = None  # the customer gave up before an answer (live channels)
    resolved_ms: int | None = None
    followed_up_ms: int | None = None  # the satisfaction follow-up (满意度回访)

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel: {self.channel!r} is not one of {', '.join(CHANNELS)}")
        for key in ("answered_ms", "abandoned_ms", "resolved_ms"):
            value = getattr(self, key)
            if value is not None and value < self.opened_ms:
                raise ValueError(f"{key[:-3]}: before opened")
        if self.answered_ms is not None and self.abandoned_ms is not None:
            raise ValueError("abandoned: an interaction answered was not abandoned")
        if self.followed_up_ms is not None and (self.resolved_ms is None
                                                or self.followed_up_ms < self.resolved_ms):
            raise ValueError("followed_up: needs resolved, and comes after it")


@dataclass(frozen=True, slots=True)
class Limit:
    """A commitment's clock: ``within`` (≤ ms), ``under`` (< ms) or ``working_days``
    (by 24:00 of the N-th working day after the start's day)."""

    kind: Literal["within", "under", "working_days"]
    amount: int

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"{self.kind}: must be positive")

    @property
    def comparison(self) -> str:
        """``<``: met only below the limit; ``<=``: met at it too."""
        return "<" if self.kind == "under" else "<="


@dataclass(frozen=True, slots=True)
class Hours:
    """When interactions are counted: ``[from, to)`` in minutes after local midnight, on
    every day (``all``) or on the calendar's working days (``working``)."""

    days: Literal["all", "working"] = "all"
    from_minute: int = 0
    to_minute: int = 24 * 60

    def __post_init__(self) -> None:
        if not 0 <= self.from_minute < self.to_minute <= 24 * 60:
            raise ValueError("hours: from must come before to, within one day")

    @property
    def around_the_clock(self) -> bool:
        return self.days == "all" and (self.from_minute, self.to_minute) == (0, 24 * 60)


@dataclass(frozen=True, slots=True)
class Rule:
    limit: Limit | None  # None: timed and counted, no verdict
    hours: Hours = Hours()


@dataclass(frozen=True)
class SupportRules:
    """The commitments: a response rule per channel, the follow-up rule and the
    channels it applies to, the contract's time zone, how many worst cases to list."""

    channels: Mapping[str, Rule]
    follow_up: Limit | None
    follow_up_channels: frozenset[str]
    timezone: str
    listed: int = 10

    def rule(self, channel: str, commitment: str) -> Rule | None:
        """The rule of a check; None when the commitment does not apply to the channel."""
        if commitment == RESPONSE:
            return self.channels.get(channel, Rule(None))
        if channel in self.follow_up_channels:
            return Rule(self.follow_up)
        return None


# -- one check --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    channel: str
    customer: str
    commitment: str
    start_ms: int
    end_ms: int | None  # the answer or follow-up; None: none (yet)
    elapsed_ms: int | None  # end − start, or abandoned − start
    due_ms: int | None  # the limit as an instant (None: no limit, or undecidable)
    status: Status
    reason: str = ""
    late_ms: int | None = None  # past due (missed); for "no answer" up to now

    def to_dict(self, tz: str) -> dict[str, Any]:
        return {"id": self.id, "customer": self.customer, "channel": self.channel,
                "commitment": self.commitment, "start": rfc3339(self.start_ms, tz),
                "end": None if self.end_ms is None else rfc3339(self.end_ms, tz),
                "elapsed_ms": self.elapsed_ms,
                "due": None if self.due_ms is None else rfc3339(self.due_ms, tz),
                "status": self.status, "reason": self.reason, "late_ms": self.late_ms}


def working_day_deadline(start_ms: int, days: int, tz: str, calendar: WorkingDayCalendar
                         ) -> int:
    """24:00 of the ``days``-th working day after the local day of ``start_ms`` (the day
    itself never counts), as an instant; :class:`CalendarUnknown` for a year the
    calendar has no data for."""
    day, found = local_date(start_ms, tz), 0
    for _ in range(MAX_SEARCH_DAYS):
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            found += 1
            if found == days:
                return local_midnight_ms(day + timedelta(days=1), tz)
    raise ValueError(f"no {days} working days within a year after {local_date(start_ms, tz)}")


def in_hours(ms: int, hours: Hours, tz: str, calendar: WorkingDayCalendar) -> bool:
    """Whether ``ms`` falls in the service hours (wall-clock time, ``[from, to)``)."""
    if hours.around_the_clock:
        return True
    local = from_ms(ms, tz)
    if hours.days == "working" and not calendar.is_working_day(local.date()):
        return False
    wall_ms = ((local.hour * 60 + local.minute) * 60 + local.second) * 1000 \
        + local.microsecond // 1000
    return hours.from_minute * 60_000 <= wall_ms < hours.to_minute * 60_000


def _due(start_ms: int, limit: Limit, tz: str, calendar: WorkingDayCalendar) -> int:
    if limit.kind == "working_days":
        return working_day_deadline(start_ms, limit.amount, tz, calendar)
    return start_ms + limit.amount


def _on_time(at_ms: int, due_ms: int, limit: Limit) -> bool:
    """Whether something at ``at_ms`` meets a limit due at ``due_ms``."""
    return at_ms < due_ms if limit.kind == "under" else at_ms <= due_ms


def judge(i: Interaction, commitment: str, rule: Rule, tz: str,
          calendar: WorkingDayCalendar, now_ms: int) -> Check:
    """One check of ``i`` under ``rule``, as far as ``now`` can tell."""
    if commitment == RESPONSE:
        start, end, gave_up = i.opened_ms, i.answered_ms, i.abandoned_ms
    else:
        assert i.resolved_ms is not None
        start, end, gave_up = i.resolved_ms, i.followed_up_ms, None
    elapsed = (end if end is not None else gave_up)
    elapsed = None if elapsed is None else elapsed - start

    def check(status: Status, reason: str = "", due: int | None = None,
              late: int | None = None) -> Check:
        return Check(i.id, i.channel, i.customer, commitment, start, end, elapsed, due,
                     status, reason, late)

    try:
        if not in_hours(start, rule.hours, tz, calendar):
            return check("excluded", OUTSIDE_HOURS)
        if rule.limit is None:
            return check("not_judged")
        due = _due(start, rule.limit, tz, calendar)
    except CalendarUnknown:
        return check("excluded", CALENDAR_UNKNOWN)
    if end is not None:
        ok = _on_time(end, due, rule.limit)
        return check("met" if ok else "missed", "" if ok else "late", due,
                     None if ok else end - due)
    if gave_up is not None:
        if _on_time(gave_up, due, rule.limit):
            return check("excluded", ABANDONED, due)
        return check("missed", "abandoned_late", due, gave_up - due)
    if _on_time(now_ms, due, rule.limit):
        return check("excluded", PENDING, due)
    return check("missed", "no_answer", due, now_ms - due)


def checks(interactions: Iterable[Interaction], rules: SupportRules, period: Period,
           calendar: WorkingDayCalendar, now_ms: int) -> list[Check]:
    """Every check whose clock starts in ``period``, in (start, id, commitment) order."""
    out = []
    for i in interactions:
        for commitment in COMMITMENTS:
            start = i.opened_ms if commitment == RESPONSE else i.resolved_ms
            rule = rules.rule(i.channel, commitment)
            if start is None or rule is None or not period.contains(start):
                continue
            out.append(judge(i, commitment, rule, rules.timezone, calendar, now_ms))
    out.sort(key=lambda c: (c.start_ms, c.id, c.commitment))
    return out


# -- tallies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Counts of a set of checks: one channel and commitment, one commitment over every
    channel, or everything (``None`` for what the set spans)."""

    channel: str | None
    commitment: str | None
    total: int
    met: int
    missed: int
    excluded: Mapping[str, int]
    not_judged: int
    longest_ms: int | None  # the longest answered or followed-up time
    worst: tuple[Check, ...]  # missed checks, latest first (not judged: slowest first)
    review: tuple[Check, ...] = ()  # excluded as calendar_unknown: a person decides

    @property
    def counted(self) -> int:
        return self.met + self.missed

    @property
    def compliance(self) -> Fraction | None:
        """met / counted, exact; None when nothing was counted (no verdict, not 100 %)."""
        return Fraction(self.met, self.counted) if self.counted else None

    def to_dict(self, tz: str) -> dict[str, Any]:
        c = self.compliance
        return {
            "channel": self.channel, "commitment": self.commitment, "total": self.total,
            "counted": self.counted, "met": self.met, "missed": self.missed,
            "excluded": {r: self.excluded.get(r, 0) for r in EXCLUSIONS},
            "not_judged": self.not_judged,
            "compliance_ratio": None if c is None else fraction_text(c),
            "compliance_percent": None if c is None else percent_down(c),
            "longest_ms": self.longest_ms,
            "worst": [w.to_dict(tz) for w in self.worst],
            "needs_review": [r.id for r in self.review],
        }


def _worst_key(c: Check) -> tuple[int, int, str]:
    return (-(c.late_ms or 0), c.start_ms, c.id)


def tally(channel: str | None, commitment: str | None, items: Sequence[Check],
          listed: int) -> Tally:
    status = Counter(c.status for c in items)
    excluded = Counter(c.reason for c in items if c.status == "excluded")
    timed = [c.elapsed_ms for c in items if c.end_ms is not None and c.elapsed_ms is not None]
    missed = sorted((c for c in items if c.status == "missed"), key=_worst_key)
    if missed:
        worst = missed[:listed]
    else:  # nothing missed: for a channel without a verdict, its slowest answers
        slow = [c for c in items if c.status == "not_judged" and c.elapsed_ms is not None]
        worst = sorted(slow, key=lambda c: (-(c.elapsed_ms or 0), c.start_ms, c.id))[:listed]
    review = [c for c in items if c.reason == CALENDAR_UNKNOWN][:listed]
    return Tally(channel, commitment, len(items), status["met"], status["missed"],
                 dict(excluded), status["not_judged"], max(timed, default=None),
                 tuple(worst), tuple(review))


@dataclass(frozen=True)
class Summary:
    """One population of checks (everyone's, or one customer's), three ways."""

    rows: tuple[Tally, ...]  # per channel and commitment
    commitments: tuple[Tally, ...]  # per commitment, every channel
    overall: Tally

    def to_dict(self, tz: str) -> dict[str, Any]:
        return {"channels": [r.to_dict(tz) for r in self.rows],
                "commitments": [r.to_dict(tz) for r in self.commitments],
                "overall": self.overall.to_dict(tz)}


def summarize(items: Sequence[Check], rules: SupportRules, every_row: bool) -> Summary:
    """``every_row``: a row for each channel and commitment that applies, even empty
    (the desk's view); else only rows with checks (a customer's view)."""
    by_row: dict[tuple[str, str], list[Check]] = defaultdict(list)
    by_commitment: dict[str, list[Check]] = defaultdict(list)
    for c in items:
        by_row[(c.channel, c.commitment)].append(c)
        by_commitment[c.commitment].append(c)
    keys = [(ch, cm) for cm in COMMITMENTS for ch in CHANNELS
            if rules.rule(ch, cm) is not None and (every_row or by_row.get((ch, cm)))]
    rows = tuple(tally(ch, cm, by_row.get((ch, cm), []), rules.listed) for ch, cm in keys)
    commitments = tuple(tally(None, cm, by_commitment.get(cm, []), rules.listed)
                        for cm in COMMITMENTS if every_row or by_commitment.get(cm))
    return Summary(rows, commitments, tally(None, None, items, rules.listed))


# -- the report -------------------------------------------------------------------------


def _span(ms: int) -> tuple[str, str]:
    """A limit for people: (English, 中文)."""
    for unit_ms, en, zh in ((3_600_000, "h", "小时"), (60_000, "min", "分钟"), (1000, "s", "秒")):
        if ms % unit_ms == 0:
            return f"{ms // unit_ms} {en}", f"{ms // unit_ms}{zh}"
    return f"{ms} ms", f"{ms}毫秒"


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe(rule: Rule, commitment: str, channel: str) -> tuple[str, str]:
    """The rule in words, (English, 中文), in the standard's terms: what the report prints
    beside each row (30秒内接通, 等待时间 <2分钟, 2个工作日内响应, 问题解决后24小时内回访)."""
    h = rule.hours
    when, when_zh = ("7×24", "7×24小时") if h.around_the_clock else (
        f"{_hhmm(h.from_minute)}–{_hhmm(h.to_minute)}"
        + (" on working days" if h.days == "working" else " daily"),
        ("工作日 " if h.days == "working" else "每日 ")
        + f"{_hhmm(h.from_minute)}-{_hhmm(h.to_minute)}")
    if commitment == FOLLOW_UP:
        noun, verb, pre, after, since = "follow-up", "回访", "问题解决后", " of resolution", \
            "resolved"
    elif channel in LIVE_CHANNELS:
        noun, verb, pre, after, since = "answer", "接通", "", "", "opened"
    else:
        noun, verb, pre, after, since = "first response", "响应", "", "", "received"
    lim = rule.limit
    if lim is None:
        return (f"{noun}: no time stated, reported only ({when})",
                f"{verb}：未约定时限，仅统计（{when_zh}）")
    if lim.kind == "working_days":
        return (f"{noun} by 24:00 of the {_ordinal(lim.amount)} working day after the day "
                f"{since} ({when})", f"{pre}{lim.amount}个工作日内{verb}（{when_zh}）")
    en, zh = _span(lim.amount)
    if lim.kind == "under":
        return (f"{noun} in under {en}{after}, {en} itself missed ({when})",
                f"{pre}等待时间 <{zh}（{when_zh}）")
    return f"{noun} within {en}{after}, {en} itself met ({when})", \
        f"{pre}{zh}内{verb}（{when_zh}）"


@dataclass(frozen=True)
class SupportReport:
    period: Period
    now_ms: int
    rules: SupportRules
    desk: Summary  # everyone
    customers: Mapping[str, Summary] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        tz, p = self.rules.timezone, self.period
        rules = []
        for cm in COMMITMENTS:
            for ch in CHANNELS:
                rule = self.rules.rule(ch, cm)
                if rule is None:
                    continue
                en, zh = describe(rule, cm, ch)
                lim = rule.limit
                rules.append({"channel": ch, "commitment": cm, "rule": en, "rule_zh": zh,
                              "comparison": None if lim is None else lim.comparison,
                              "limit_ms": None if lim is None or lim.kind == "working_days"
                              else lim.amount,
                              "working_days": lim.amount if lim and lim.kind ==
                              "working_days" else None})
        return {
            "period": {"label": p.label, "start": rfc3339(p.start_ms, tz),
                       "end": rfc3339(p.end_ms, tz), "timezone": tz,
                       "complete": p.is_complete(self.now_ms),
                       "evaluated_until": rfc3339(p.until(self.now_ms), tz)},
            "rules": rules,
            **self.desk.to_dict(tz),
            "customers": [{"customer": cid, **s.to_dict(tz)}
                          for cid, s in sorted(self.customers.items())],
        }


def build_support_report(interactions: Iterable[Interaction], rules: SupportRules,
                         period: Period, calendar: WorkingDayCalendar, now_ms: int
                         ) -> SupportReport:
    """The month's compliance of the support desk, per channel, per customer, overall."""
    items = checks(interactions, rules, period, calendar, now_ms)
    per_customer: dict[str, list[Check]] = defaultdict(list)
    for c in items:
        per_customer[c.customer].append(c)
    return SupportReport(period, now_ms, rules, summarize(items, rules, every_row=True),
                         {cid: summarize(cs, rules, every_row=False)
                          for cid, cs in per_customer.items()})
