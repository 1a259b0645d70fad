"""The support desk's commitments (客户支持体系), pure: reference cases with the hand
computation in each docstring, every boundary exactly at it and one unit either side.

The standard's wording and how it is read (``slo.support``):

* 在线客服 "7×24小时", "30秒内接通": answered ``within`` 30 s, inclusive (≤).
* 400服务热线 "工作日 9:00-18:00", "等待时间 <2分钟": a wait ``under`` 120 s, strict (<),
  counted only for calls opened in [09:00, 18:00) on Chinese working days.
* 邮件支持 "2个工作日内响应": by 24:00 of the 2nd working day after the day received
  (民法典 201/203: the first day does not count, the last ends at 24:00), inclusive.
* 满意度回访 "问题解决后24小时内": followed up ``within`` 24 h of resolution, inclusive.
* VIP专线 and 工单系统: no time stated, so timed and counted, never judged.

All instants are Asia/Shanghai (UTC+8, no DST); units are milliseconds.
"""

from __future__ import annotations

import json
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from slo.calendar import make_calendar
from slo.periods import Period, parse_month, to_ms
from slo.support import (
    CHANNELS,
    FOLLOW_UP,
    RESPONSE,
    Check,
    Hours,
    Interaction,
    Limit,
    Rule,
    SupportRules,
    build_support_report,
    checks,
    working_day_deadline,
)

TZ = "Asia/Shanghai"
CAL = make_calendar("CN")
S, MIN, H = 1000, 60_000, 3_600_000
STANDARD = SupportRules(
    channels={"chat": Rule(Limit("within", 30 * S)),
              "hotline": Rule(Limit("under", 2 * MIN), Hours("working", 9 * 60, 18 * 60)),
              "vip": Rule(None), "email": Rule(Limit("working_days", 2)),
              "ticket": Rule(None)},
    follow_up=Limit("within", 24 * H), follow_up_channels=frozenset(CHANNELS), timezone=TZ)
OCT, NOV, DEC = (parse_month(m, TZ) for m in ("2026-10", "2026-11", "2026-12"))
LATE = to_ms(datetime(2027, 1, 31, tzinfo=ZoneInfo(TZ)))  # "now": long after everything


def at(text: str) -> int:
    """``"2026-11-24 09:00:00.000"`` (Shanghai) as epoch ms."""
    return to_ms(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(TZ)))


def one(i: Interaction, period: Period, commitment: str = RESPONSE, now: int = LATE,
        rules: SupportRules = STANDARD) -> Check:
    (c,) = [c for c in checks([i], rules, period, CAL, now) if c.commitment == commitment]
    return c


def chat(opened: str, answered: str | None = None, **kw: Any) -> Interaction:
    return Interaction("C-1", "chat", "acme", at(opened),
                       None if answered is None else at(answered), **kw)


def call(opened: str, answered: str | None = None, **kw: Any) -> Interaction:
    return Interaction("H-1", "hotline", "acme", at(opened),
                       None if answered is None else at(answered), **kw)


def mail(opened: str, answered: str | None = None) -> Interaction:
    return Interaction("E-1", "email", "acme", at(opened),
                       None if answered is None else at(answered))


# -- online chat: within 30 s, inclusive -------------------------------------------------


@pytest.mark.parametrize(("answered", "status", "late"), [
    ("2026-11-24 10:00:29.999", "met", None),
    ("2026-11-24 10:00:30.000", "met", None),
    ("2026-11-24 10:00:30.001", "missed", 1),
])
def test_chat_answered_within_30_s_inclusive(answered: str, status: str, late: int | None
                                             ) -> None:
    """Opened 10:00:00.000, due 10:00:30.000 (+30 000 ms).  "30秒内接通" includes 30 s:
    29 999 ms met, 30 000 ms met, 30 001 ms missed, 1 ms late."""
    c = one(chat("2026-11-24 10:00:00", answered), NOV)
    assert (c.status, c.late_ms) == (status, late)
    assert c.due_ms == at("2026-11-24 10:00:30")


def test_chat_counts_around_the_clock() -> None:
    """7×24: a chat at 03:00 on National Day (2026-10-01, a holiday) is counted; answered
    after 31 s: missed by 1 000 ms."""
    c = one(chat("2026-10-01 03:00:00", "2026-10-01 03:00:31"), OCT)
    assert (c.status, c.late_ms, c.elapsed_ms) == ("missed", 1000, 31_000)


# -- 400 hotline: wait under 2 min, strict; 09:00–18:00 on working days --------------------


@pytest.mark.parametrize(("answered", "status", "late"), [
    ("2026-11-24 10:01:59.999", "met", None),
    ("2026-11-24 10:02:00.000", "missed", 0),
    ("2026-11-24 10:02:00.001", "missed", 1),
])
def test_hotline_wait_under_2_min_is_strict(answered: str, status: str, late: int | None
                                            ) -> None:
    """Tue 2026-11-24 (a working day), queued 10:00:00.000; 120 000 ms is 10:02:00.000.
    "等待时间 <2分钟": 119 999 ms met; exactly 120 000 ms is *not* under 2 min (missed,
    0 ms past the limit); 120 001 ms missed by 1 ms."""
    c = one(call("2026-11-24 10:00:00", answered), NOV)
    assert (c.status, c.late_ms) == (status, late)


@pytest.mark.parametrize(("opened", "counted"), [
    ("2026-11-24 08:59:59", False),
    ("2026-11-24 09:00:00", True),
    ("2026-11-24 17:59:59", True),
    ("2026-11-24 17:59:59.999", True),
    ("2026-11-24 18:00:00", False),
])
def test_hotline_hours_are_9_to_18_half_open(opened: str, counted: bool) -> None:
    """Service time "9:00-18:00" read as [09:00:00, 18:00:00): 08:59:59 is one second
    before (excluded, outside_hours), 09:00:00 counts, 17:59:59(.999) counts, 18:00:00
    does not.  Each call is answered after 60 s, so a counted one is met."""
    start = at(opened)
    c = one(Interaction("H-1", "hotline", "acme", start, start + 60 * S), NOV)
    assert (c.status, c.reason) == (("met", "") if counted else ("excluded", "outside_hours"))


def test_a_call_queued_before_18_00_is_judged_on_its_whole_wait() -> None:
    """Queued 17:59:30, answered 18:01:30: opened in hours, so counted, and the wait is
    120 s in full (the clock does not stop at 18:00): not under 2 min, missed."""
    c = one(call("2026-11-24 17:59:30", "2026-11-24 18:01:30"), NOV)
    assert (c.status, c.elapsed_ms) == ("missed", 120_000)


@pytest.mark.parametrize(("opened", "counted", "why"), [
    ("2026-10-01 10:00:00", False, "Thu, National Day holiday"),
    ("2026-10-07 10:00:00", False, "Wed, last day of the holiday"),
    ("2026-10-08 10:00:00", True, "Thu, first working day after it"),
    ("2026-10-10 10:00:00", True, "Sat, adjusted working day (调休)"),
    ("2026-10-11 10:00:00", False, "Sun, an ordinary weekend day"),
    ("2026-11-21 10:00:00", False, "Sat, an ordinary weekend day"),
])
def test_hotline_counts_chinese_working_days_only(opened: str, counted: bool, why: str
                                                  ) -> None:
    """工作日 are the State Council's: 2026-10-01..07 off; Sat 2026-10-10 on (调休).
    A call at 10:00 answered in 3 min is missed on a working day, excluded otherwise."""
    start = at(opened)
    c = one(Interaction("H-1", "hotline", "acme", start, start + 3 * MIN),
            parse_month(opened[:7], TZ))
    assert c.status == ("missed" if counted else "excluded"), why
    if not counted:
        assert c.reason == "outside_hours"


# -- e-mail: by 24:00 of the 2nd working day after the day received --------------------------


def test_email_deadline_across_a_weekend() -> None:
    """Received Fri 2026-11-20 10:00.  The day received does not count; Sat 21 and Sun 22
    are not working days; Mon 23 is working day 1, Tue 24 working day 2; the period ends
    at 24:00 of Tue 24 = 2026-11-25 00:00:00 +08:00."""
    assert working_day_deadline(at("2026-11-20 10:00:00"), 2, TZ, CAL) == at("2026-11-25 00:00")


@pytest.mark.parametrize(("answered", "status", "late"), [
    ("2026-11-24 23:59:59.999", "met", None),
    ("2026-11-25 00:00:00.000", "met", None),
    ("2026-11-25 00:00:00.001", "missed", 1),
])
def test_email_2_working_days_inclusive(answered: str, status: str, late: int | None) -> None:
    """Due 2026-11-25 00:00 (24:00 of Tue 24, above).  "2个工作日内" includes its end:
    1 ms before met, at 24:00 met, 1 ms after missed by 1 ms."""
    c = one(mail("2026-11-20 10:00:00", answered), NOV)
    assert (c.status, c.late_ms) == (status, late)


def test_email_received_on_a_saturday() -> None:
    """Received Sat 2026-11-21 23:00: Mon 23 (1), Tue 24 (2) → due 2026-11-25 00:00, the
    same as Friday's mail: the weekend does not run the clock."""
    assert working_day_deadline(at("2026-11-21 23:00:00"), 2, TZ, CAL) == at("2026-11-25 00:00")


def test_email_deadline_across_national_day() -> None:
    """Received Wed 2026-09-30 16:00.  Oct 1–7 are the holiday; Thu Oct 8 is working day 1,
    Fri Oct 9 working day 2 → due 2026-10-10 00:00.  Answered Fri 9 23:59:59: met;
    Sat 10 00:00:01: missed by 1 s."""
    due = at("2026-10-10 00:00")
    assert working_day_deadline(at("2026-09-30 16:00:00"), 2, TZ, CAL) == due
    sept = parse_month("2026-09", TZ)
    assert one(mail("2026-09-30 16:00:00", "2026-10-09 23:59:59"), sept).status == "met"
    c = one(mail("2026-09-30 16:00:00", "2026-10-10 00:00:01"), sept)
    assert (c.status, c.late_ms) == ("missed", 1000)


def test_email_deadline_counts_the_adjusted_saturday() -> None:
    """Received Thu 2026-10-08: Fri Oct 9 (1), Sat Oct 10 (2, 调休 working day) → due
    2026-10-11 00:00, not Tue Oct 13 as a Monday–Friday count would say."""
    assert working_day_deadline(at("2026-10-08 11:00:00"), 2, TZ, CAL) == at("2026-10-11 00:00")


def test_email_whose_deadline_falls_in_a_year_without_calendar_data_is_for_a_person() -> None:
    """Received Wed 2026-12-30: Thu Dec 31 is working day 1; 2027-01-01 has no calendar
    data (chinese_calendar ends with 2026), so the deadline is unknown: excluded as
    calendar_unknown, listed for review, neither met nor missed."""
    report = build_support_report([mail("2026-12-30 10:00:00", "2027-01-04 10:00:00")],
                                  STANDARD, DEC, CAL, LATE)
    (row,) = [r for r in report.desk.rows if (r.channel, r.commitment) == ("email", RESPONSE)]
    assert (row.total, row.counted, dict(row.excluded)) == (1, 0, {"calendar_unknown": 1})
    assert [c.id for c in row.review] == ["E-1"]
    assert row.compliance is None


# -- satisfaction follow-up: within 24 h of resolution -------------------------------------


@pytest.mark.parametrize(("followed", "status", "late"), [
    ("2026-11-25 09:59:59.999", "met", None),
    ("2026-11-25 10:00:00.000", "met", None),
    ("2026-11-25 10:00:00.001", "missed", 1),
])
def test_follow_up_within_24_h_inclusive(followed: str, status: str, late: int | None) -> None:
    """Resolved 2026-11-24 10:00:00, due 2026-11-25 10:00:00 (+86 400 000 ms).
    "问题解决后24小时内" includes 24 h: 1 ms before met, at it met, 1 ms after missed."""
    i = Interaction("T-1", "ticket", "acme", at("2026-11-24 08:00"), at("2026-11-24 08:30"),
                    resolved_ms=at("2026-11-24 10:00"), followed_up_ms=at(followed))
    c = one(i, NOV, FOLLOW_UP)
    assert (c.status, c.late_ms) == (status, late)


def test_each_check_belongs_to_the_month_its_clock_starts() -> None:
    """Opened Sat 2026-10-31 23:50 (chat, answered in 10 s), resolved 2026-11-01 00:10, never
    followed up.  The response counts in October; the follow-up's clock starts at the
    resolution, so it counts in November (missed: due 11-02 00:10, 'now' is later)."""
    i = Interaction("C-9", "chat", "acme", at("2026-10-31 23:50"), at("2026-10-31 23:50:10"),
                    resolved_ms=at("2026-11-01 00:10"))
    assert [(c.commitment, c.status) for c in checks([i], STANDARD, OCT, CAL, LATE)] == [
        (RESPONSE, "met")]
    nov = checks([i], STANDARD, NOV, CAL, LATE)
    assert [(c.commitment, c.status, c.reason) for c in nov] == [
        (FOLLOW_UP, "missed", "no_answer")]
    assert nov[0].late_ms == LATE - at("2026-11-02 00:10")


def test_follow_up_applies_only_to_the_configured_channels() -> None:
    """With follow-ups for email only, a resolved chat has no follow-up check."""
    rules = SupportRules(STANDARD.channels, STANDARD.follow_up, frozenset({"email"}), TZ)
    i = chat("2026-11-24 10:00", "2026-11-24 10:00:05", resolved_ms=at("2026-11-24 10:05"))
    assert [c.commitment for c in checks([i], rules, NOV, CAL, LATE)] == [RESPONSE]


# -- not (yet) answered, abandoned -----------------------------------------------------------


@pytest.mark.parametrize(("now", "status", "reason", "late"), [
    ("2026-11-24 10:00:29.999", "excluded", "pending", None),
    ("2026-11-24 10:00:30.000", "excluded", "pending", None),
    ("2026-11-24 10:00:30.001", "missed", "no_answer", 1),
])
def test_unanswered_chat_is_pending_until_the_limit_then_missed(
        now: str, status: str, reason: str, late: int | None) -> None:
    """Opened 10:00:00, no answer recorded.  Up to and at 10:00:30 an answer could still be
    in time: excluded (pending).  From 10:00:30.001 it can no longer be: missed, late by
    now − due so far."""
    c = one(chat("2026-11-24 10:00:00"), NOV, now=at(now))
    assert (c.status, c.reason, c.late_ms) == (status, reason, late)


@pytest.mark.parametrize(("gave_up_after", "status", "reason"), [
    (119_999, "excluded", "abandoned"),
    (120_000, "missed", "abandoned_late"),
    (120_001, "missed", "abandoned_late"),
])
def test_abandoned_call_counts_only_once_the_wait_broke_the_limit(
        gave_up_after: int, status: str, reason: str) -> None:
    """A caller who hangs up after 119.999 s had not yet waited 2 min: nobody can say the
    promise was broken (excluded).  At 120 s the wait already was not under 2 min
    (strict): missed, as at 120.001 s."""
    start = at("2026-11-24 10:00:00")
    i = Interaction("H-2", "hotline", "acme", start, abandoned_ms=start + gave_up_after)
    c = one(i, NOV)
    assert (c.status, c.reason, c.elapsed_ms) == (status, reason, gave_up_after)


@pytest.mark.parametrize(("gave_up_after", "status"), [
    (29_999, "excluded"), (30_000, "excluded"), (30_001, "missed")])
def test_abandoned_chat_at_the_inclusive_limit(gave_up_after: int, status: str) -> None:
    """Chat is inclusive: leaving at exactly 30 s, an answer at 30 s would still have been
    in time, so nothing was broken (excluded); at 30.001 s it was (missed)."""
    start = at("2026-11-24 10:00:00")
    assert one(Interaction("C-2", "chat", "acme", start, abandoned_ms=start + gave_up_after),
               NOV).status == status


# -- vip and ticket: no time stated ---------------------------------------------------------


def test_vip_and_ticket_are_timed_and_counted_but_never_judged() -> None:
    """VIP专线 promises 优先接入 with no number; 工单系统 states no response time here.
    Three VIP calls answered after 5 s, 90 s and 10 min: total 3, not judged 3, counted 0,
    no compliance (not 100 %); the slowest listed first (600 000, 90 000, 5 000 ms)."""
    base = at("2026-11-24 10:00:00")
    calls = [Interaction(f"V-{n}", "vip", "acme", base, base + ms)
             for n, ms in ((1, 5 * S), (2, 90 * S), (3, 10 * MIN))]
    report = build_support_report(calls, STANDARD, NOV, CAL, LATE)
    (vip,) = [r for r in report.desk.rows if (r.channel, r.commitment) == ("vip", RESPONSE)]
    assert (vip.total, vip.not_judged, vip.counted, vip.compliance) == (3, 3, 0, None)
    assert [c.elapsed_ms for c in vip.worst] == [600_000, 90_000, 5_000]
    assert vip.longest_ms == 600_000
    doc = report.to_dict()
    (rule,) = [r for r in doc["rules"] if (r["channel"], r["commitment"]) == ("vip", RESPONSE)]
    assert rule["comparison"] is None and "no time stated" in rule["rule"]


# -- a month: per channel, per customer, overall -----------------------------------------------


def _month() -> list[Interaction]:
    """November 2026, two customers:

    acme: chats answered in 10 s (met), 30 s (met), 45 s (missed by 15 s); a call at
    10:00 on Tue 24 answered in 2 min (missed by 0 ms) and one at 08:30 (outside hours);
    an e-mail of Fri 20 answered Wed 25 08:00 (missed by 8 h), resolved that day 09:00
    and followed up 25 h later (missed by 1 h).
    globex: a chat answered in 5 s (met), resolved 10 min later, followed up 2 h later
    (met); a ticket answered in 3 h (not judged).
    """
    t = at("2026-11-24 10:00:00")
    return [
        Interaction("A-1", "chat", "acme", t, t + 10 * S),
        Interaction("A-2", "chat", "acme", t + H, t + H + 30 * S),
        Interaction("A-3", "chat", "acme", t + 2 * H, t + 2 * H + 45 * S),
        Interaction("A-4", "hotline", "acme", t, t + 2 * MIN),
        Interaction("A-5", "hotline", "acme", t - 90 * MIN, t - 89 * MIN),
        Interaction("A-6", "email", "acme", at("2026-11-20 10:00"), at("2026-11-25 08:00"),
                    resolved_ms=at("2026-11-25 09:00"), followed_up_ms=at("2026-11-26 10:00")),
        Interaction("G-1", "chat", "globex", t, t + 5 * S, resolved_ms=t + 10 * MIN,
                    followed_up_ms=t + 10 * MIN + 2 * H),
        Interaction("G-2", "ticket", "globex", t, t + 3 * H),
    ]


def test_a_month_per_channel_per_customer_and_overall() -> None:
    """Hand count of :func:`_month`:

    chat response: 4 checks, met 3 (10 s, 30 s, 5 s), missed 1 (45 s) → 3/4 = 75.000 %.
    hotline response: 2 checks, 1 excluded (08:30, outside hours), 1 missed → 0/1 = 0.000 %.
    email response: 1 missed (due 11-25 00:00, answered 08:00: 28 800 000 ms late).
    ticket response: 1 not judged.  vip: no checks.
    follow_up: email (due 11-26 09:00, at 10:00: missed by 3 600 000 ms), chat (met) → 1/2.
    response over channels: met 3, missed 3 → 1/2.  Overall: met 4, missed 4 → 1/2.
    acme: met 2 + 0 + 0, missed 1 + 1 + 1 + 1 (follow-up) → 2/6 = 1/3 = 33.333 % (rounded
    down, not 33.334).  globex: chat met, follow-up met → 2/2; the ticket not judged.
    """
    report = build_support_report(_month(), STANDARD, NOV, CAL, LATE)
    rows = {(r.channel, r.commitment): r for r in report.desk.rows}
    assert len(rows) == 10  # every channel × {response, follow_up}, empty ones included
    chat_r = rows[("chat", RESPONSE)]
    assert (chat_r.total, chat_r.met, chat_r.missed, chat_r.compliance) == (4, 3, 1,
                                                                            Fraction(3, 4))
    assert [(c.id, c.late_ms) for c in chat_r.worst] == [("A-3", 15_000)]
    hot = rows[("hotline", RESPONSE)]
    assert (hot.total, hot.counted, hot.missed, dict(hot.excluded)) == (
        2, 1, 1, {"outside_hours": 1})
    assert rows[("email", RESPONSE)].worst[0].late_ms == 8 * H
    assert rows[("ticket", RESPONSE)].not_judged == 1
    assert rows[("vip", RESPONSE)].total == 0 and rows[("vip", RESPONSE)].compliance is None
    follow = {c.commitment: c for c in report.desk.commitments}
    assert follow[FOLLOW_UP].compliance == Fraction(1, 2)
    assert follow[FOLLOW_UP].worst[0].late_ms == H
    assert follow[RESPONSE].compliance == Fraction(3, 6)
    assert (report.desk.overall.met, report.desk.overall.missed) == (4, 4)
    acme = report.customers["acme"].overall
    assert (acme.met, acme.missed, acme.compliance) == (2, 4, Fraction(1, 3))
    assert report.customers["globex"].overall.compliance == 1
    doc = report.to_dict()
    (acme_doc,) = [c for c in doc["customers"] if c["customer"] == "acme"]
    assert acme_doc["overall"]["compliance_percent"] == "33.333"
    assert acme_doc["overall"]["compliance_ratio"] == "1/3"
    # A customer's view lists only the rows it has.
    assert {(r["channel"], r["commitment"]) for r in acme_doc["channels"]} == {
        ("chat", RESPONSE), ("hotline", RESPONSE), ("email", RESPONSE), ("email", FOLLOW_UP)}


def _floats(doc: Any) -> list[Any]:
    if isinstance(doc, float):
        return [doc]
    if isinstance(doc, dict):
        return [f for v in doc.values() for f in _floats(v)]
    if isinstance(doc, list):
        return [f for v in doc for f in _floats(v)]
    return []


def test_the_json_has_no_float_and_names_each_rule() -> None:
    """Ratios are exact strings ("3/4", "75.000" rounded down), durations integer ms."""
    doc = build_support_report(_month(), STANDARD, NOV, CAL, LATE).to_dict()
    assert _floats(doc) == []
    json.dumps(doc)
    (c,) = [r for r in doc["channels"] if (r["channel"], r["commitment"]) == ("chat", RESPONSE)]
    assert (c["compliance_ratio"], c["compliance_percent"]) == ("3/4", "75.000")
    rules = {(r["channel"], r["commitment"]): r for r in doc["rules"]}
    assert rules[("chat", RESPONSE)]["rule_zh"] == "30秒内接通（7×24小时）"
    assert rules[("hotline", RESPONSE)]["comparison"] == "<"
    assert rules[("hotline", RESPONSE)]["limit_ms"] == 120_000
    assert rules[("email", RESPONSE)]["working_days"] == 2
    assert rules[("chat", FOLLOW_UP)]["limit_ms"] == 86_400_000
    assert doc["period"] == {"label": "2026-11", "start": "2026-11-01T00:00:00+08:00",
                             "end": "2026-12-01T00:00:00+08:00", "timezone": TZ,
                             "complete": True, "evaluated_until": "2026-12-01T00:00:00+08:00"}


def test_outside_the_month_is_not_counted() -> None:
    """Opened 2026-10-31 23:59:59.999 +08:00 is October; 2026-11-01 00:00:00 is November."""
    before = chat("2026-10-31 23:59:59.999", "2026-11-01 00:00:05")
    first = Interaction("C-2", "chat", "acme", at("2026-11-01 00:00"), at("2026-11-01 00:00:05"))
    assert [c.id for c in checks([before, first], STANDARD, NOV, CAL, LATE)] == ["C-2"]


def test_worst_cases_are_capped_and_ordered_by_lateness() -> None:
    """Five chats late by 1..5 s with ``listed`` 3: the 5, 4 and 3 s ones, in that order."""
    rules = SupportRules(STANDARD.channels, STANDARD.follow_up, STANDARD.follow_up_channels,
                         TZ, listed=3)
    t = at("2026-11-24 10:00:00")
    late = [Interaction(f"C-{n}", "chat", "acme", t + n * MIN, t + n * MIN + (30 + n) * S)
            for n in range(1, 6)]
    (row,) = [r for r in build_support_report(late, rules, NOV, CAL, LATE).desk.rows
              if (r.channel, r.commitment) == ("chat", RESPONSE)]
    assert [(c.id, c.late_ms) for c in row.worst] == [("C-5", 5000), ("C-4", 4000),
                                                      ("C-3", 3000)]
    assert row.missed == 5


@pytest.mark.parametrize(("kw", "message"), [
    ({"answered_ms": 0}, "answered: before opened"),
    ({"answered_ms": 2, "abandoned_ms": 3}, "abandoned"),
    ({"followed_up_ms": 5}, "followed_up: needs resolved"),
])
def test_an_interaction_that_cannot_be_is_refused(kw: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Interaction("X", "chat", "acme", 1, **kw)
