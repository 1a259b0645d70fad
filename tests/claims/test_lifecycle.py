"""Statement lifecycle: the generation day, the monthly job, frozen bytes, reissues."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from compensation.archive import FORMATS, render_document, render_live
from compensation.claims import Actor, ClaimConflict
from compensation.lifecycle import (
    MonthlyStatementJob,
    NoSuchVersion,
    StatementLifecycleError,
    generation_date,
)
from exporters.statement_pdf import FontConfig
from slaguard.errors import StoreError
from slo.calendar import CalendarUnknown, make_calendar
from slo.periods import parse_month
from tests.conftest import REQUIRE_INTEGRATION

from . import kit

CN = make_calendar("CN")


def _cjk_font() -> bool:
    try:
        return bool(FontConfig().families("补偿"))
    except Exception:
        return False


def formats() -> list[str]:
    """Every format; PDF only with a CJK font (the renderer refuses to print boxes)."""
    if _cjk_font():
        return list(FORMATS)
    if REQUIRE_INTEGRATION:
        pytest.fail("SLAGUARD_REQUIRE_INTEGRATION=1 but no CJK font (fonts-noto-cjk)")
    return [f for f in FORMATS if f != "pdf"]


# -- the generation day ---------------------------------------------------------------------


@pytest.mark.parametrize(("month", "day"), [
    ("2025-12", date(2026, 1, 8)),   # New Year 1-1..1-3 off, Sunday 1-4 a working day
    ("2025-01", date(2025, 2, 10)),  # Spring Festival to 2-4, Saturday 2-8 a working day
    ("2026-01", date(2026, 2, 6)),   # Spring Festival 2026 starts 2-15: the week is untouched
    ("2026-04", date(2026, 5, 11)),  # Labour Day 5-1..5-5, Saturday 5-9 a working day
    ("2026-09", date(2026, 10, 13)),  # National Day 10-1..10-7, Saturday 10-10 a working day
    ("2026-10", date(2026, 11, 6)),
])
def test_the_fifth_chinese_working_day_of_the_next_month(month: str, day: date) -> None:
    assert generation_date(parse_month(month, kit.TZ), CN) == day


def test_chinese_calendar_knows_the_2026_spring_festival() -> None:
    # What the February rule stands on: the package's 2026 data, not weekdays.
    assert not CN.is_working_day(date(2026, 2, 16)) and not CN.is_working_day(date(2026, 2, 23))
    assert CN.is_working_day(date(2026, 2, 14)) and CN.is_working_day(date(2026, 2, 28))


def test_an_unknown_year_is_refused_not_guessed() -> None:
    with pytest.raises(CalendarUnknown, match="2027"):
        generation_date(parse_month("2026-12", kit.TZ), CN)
    known = make_calendar("CN", {2027: {"holidays": ["2027-01-01"], "source": "notice"}})
    assert generation_date(parse_month("2026-12", kit.TZ), known) == date(2027, 1, 8)


def test_the_weekday_calendar_counts_monday_to_friday() -> None:
    assert generation_date(parse_month("2026-09", kit.TZ), make_calendar("none")) == \
        date(2026, 10, 7)


# -- the monthly job -------------------------------------------------------------------------


def test_the_job_waits_for_the_generation_day_then_freezes_every_customer_once(
        w: kit.World) -> None:
    job = MonthlyStatementJob(w.lifecycle)
    run = job.run(kit.BEFORE)
    assert (run.month, run.status, run.on) == ("2026-10", "not_due", date(2026, 11, 6))
    assert w.archive.frozen_customers("2026-10") == set()
    run = job.run(kit.GENERATION_DAY)
    assert (run.status, run.generated) == ("generated", 2)
    assert w.archive.frozen_customers("2026-10") == {"acme", "globex"}
    first = {c: w.archive.get(c, "2026-10") for c in ("acme", "globex")}
    for later in (kit.GENERATION_DAY + 3_600_000, kit.at("11-20 12:00")):
        assert job.run(later).status == "done"
    assert {c: w.archive.versions(c, "2026-10") for c in first} == \
        {c: [v] for c, v in first.items()}
    acme = first["acme"]
    assert acme is not None and acme.version == 1 and acme.total == "1200.00"
    assert acme.created_by == "statement-job" and "2026-11-06" in acme.reason


def test_the_job_only_freezes_customers_not_frozen_yet(w: kit.World) -> None:
    early = w.lifecycle.render("acme", "2026-10", "json", kit.AFTER)  # frozen on request
    run = MonthlyStatementJob(w.lifecycle).run(kit.AFTER + 1000)
    assert (run.status, run.generated) == ("generated", 1)
    assert w.archive.get("acme", "2026-10").hash == early.hash  # type: ignore[union-attr]
    assert w.archive.freeze_many([w.lifecycle.live("acme", "2026-10", kit.AFTER)], 0, "x",
                                 "again") == 0


def test_the_job_refuses_an_unknown_year_and_says_so_once(
        w: kit.World, caplog: pytest.LogCaptureFixture) -> None:
    job = MonthlyStatementJob(w.lifecycle)
    with caplog.at_level(logging.DEBUG, logger="compensation.lifecycle"):
        runs = [job.run(kit.at("01-15 10:00", 2027)), job.run(kit.at("01-15 11:00", 2027))]
    assert [r.status for r in runs] == ["calendar_unknown", "calendar_unknown"]
    assert w.archive.frozen_customers("2026-12") == set()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "2026-12" in errors[0].getMessage()
    assert "2027" in errors[0].getMessage() and "--force" in errors[0].getMessage()
    # A person decides: --force freezes it.
    gen = w.lifecycle.freeze_month("2026-12", kit.at("01-15 12:00", 2027), by="li",
                                   force=True)
    assert gen.generated == 2
    assert w.archive.get("acme", "2026-12").reason == "generated by hand (li)"  # type: ignore


def test_the_open_month_is_provisional_and_never_frozen(w: kit.World) -> None:
    now = kit.at("11-20 12:00")
    r = w.lifecycle.render("acme", "2026-11", "json", now)
    assert (r.state, r.version) == ("provisional", None)
    assert json.loads(r.body)["claim"]["status"] == "provisional"
    with pytest.raises(StatementLifecycleError, match="not over"):
        w.lifecycle.freeze_month("2026-11", now, force=True)
    with pytest.raises(StatementLifecycleError, match="provisional"):
        w.lifecycle.reissue("acme", "2026-11", now, "li", "why not")
    assert w.archive.frozen_customers("2026-11") == set()


def test_a_closed_month_is_preliminary_until_its_generation_day(w: kit.World) -> None:
    r = w.lifecycle.render("acme", "2026-10", "csv", kit.BEFORE)
    assert (r.state, r.version) == ("preliminary", None)
    assert "2026-11-06" in r.note
    assert w.archive.frozen_customers("2026-10") == set()


# -- frozen bytes ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", formats())
def test_frozen_bytes_are_identical_on_regeneration_even_after_the_record_changes(
        w: kit.World, fmt: str) -> None:
    first = w.lifecycle.render("acme", "2026-10", fmt, kit.AFTER)
    assert (first.state, first.version) == ("frozen", 1)
    kit.add_late_incident(Path(w.cfg.storage.path))
    live = w.lifecycle.live("acme", "2026-10", kit.AFTER)
    assert live.to_dict()["total"] == "2400.00"  # the record changed …
    for now in (kit.AFTER + 60_000, kit.at("12-24 09:00")):
        again = w.lifecycle.render("acme", "2026-10", fmt, now)
        assert again.body == first.body and again.hash == first.hash  # … the statement not
    assert again.total == "1200.00"


def test_archived_renderings_equal_the_live_ones(w: kit.World) -> None:
    """The archived document is enough: each renderer gives, from it, what it gave
    from the live statement (JSON: the same document, keys sorted)."""
    live = w.lifecycle.live("acme", "2026-10", kit.AFTER)
    v = w.archive.freeze(live, kit.AFTER, "test", "test")
    for fmt in formats():
        if fmt == "json":
            assert json.loads(render_document(v.doc(), fmt)) == live.to_dict()
        else:
            assert render_document(v.doc(), fmt) == render_live(live, fmt), fmt


def test_the_archive_holds_canonical_json_and_its_hash(w: kit.World) -> None:
    from slo.statement import canonical_json, content_hash

    w.lifecycle.render("acme", "2026-10", "json", kit.AFTER)
    v = w.archive.get("acme", "2026-10")
    assert v is not None
    assert v.document == canonical_json(v.doc()) and content_hash(v.doc()) == v.hash


def test_the_archive_is_append_only_and_checks_its_hashes(w: kit.World) -> None:
    w.lifecycle.render("acme", "2026-10", "csv", kit.AFTER)
    db = sqlite3.connect(w.cfg.storage.path)
    try:
        for sql in ("UPDATE statement_archive SET total='0.00'", "DELETE FROM statement_archive",
                    "UPDATE statement_renders SET body=x'00'", "DELETE FROM statement_renders"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(sql)
        # Past the triggers (a hand edit), a changed document no longer matches its hash.
        db.execute("DROP TRIGGER statement_archive_no_update")
        db.execute("UPDATE statement_archive SET document=CAST(replace(CAST(document AS TEXT), "
                   "'1200.00', '9999.00') AS BLOB)")
        db.commit()
    finally:
        db.close()
    with pytest.raises(StoreError, match="content hash"):
        w.archive.get("acme", "2026-10")


# -- reissue -------------------------------------------------------------------------------------


def test_reissue_records_version_2_with_its_reason_and_keeps_version_1(w: kit.World) -> None:
    v1 = {fmt: w.lifecycle.render("acme", "2026-10", fmt, kit.AFTER) for fmt in ("json", "csv")}
    kit.add_late_incident(Path(w.cfg.storage.path))
    v2 = w.lifecycle.reissue("acme", "2026-10", kit.at("11-10 15:00"), "finance-wang",
                             "P1 INC-7 imported late: response credit")
    assert (v2.version, v2.total, v2.created_by) == (2, "2400.00", "finance-wang")
    assert v2.reason == "P1 INC-7 imported late: response credit"
    latest = w.lifecycle.render("acme", "2026-10", "json", kit.at("11-11 09:00"))
    assert (latest.version, latest.total, latest.hash) == (2, "2400.00", v2.hash)
    for fmt, first in v1.items():
        old = w.lifecycle.render("acme", "2026-10", fmt, kit.at("11-11 09:00"), version=1)
        assert (old.version, old.body) == (1, first.body)
    assert [(v.version, v.reason) for v in w.archive.versions("acme", "2026-10")] == [
        (1, "frozen on request, working day 5 or later"),
        (2, "P1 INC-7 imported late: response credit")]
    with pytest.raises(NoSuchVersion):
        w.lifecycle.render("acme", "2026-10", "json", kit.AFTER, version=3)


def test_reissue_needs_a_reason_and_a_frozen_statement(w: kit.World) -> None:
    with pytest.raises(StatementLifecycleError, match="not frozen yet"):
        w.lifecycle.reissue("acme", "2026-10", kit.AFTER, "li", "typo")
    w.lifecycle.render("acme", "2026-10", "json", kit.AFTER)
    with pytest.raises(ValueError, match="reason"):
        w.lifecycle.reissue("acme", "2026-10", kit.AFTER, "li", "  ")


async def test_run_every_keeps_running_after_a_failed_run(w: kit.World) -> None:
    import asyncio

    from compensation.lifecycle import run_every

    calls: list[int] = []

    class Flaky(MonthlyStatementJob):
        def run(self, now_ms: int) -> Any:
            calls.append(now_ms)
            if len(calls) == 1:
                raise RuntimeError("the record is locked")
            return super().run(now_ms)

    task = asyncio.create_task(run_every(Flaky(w.lifecycle), 0.01, lambda: kit.AFTER))
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert w.archive.frozen_customers("2026-10") == {"acme", "globex"}


def test_the_claim_window_is_a_policy_setting(template: Path, tmp_path: Path) -> None:
    """compensation.claim_window_days: 30.  October's last day is 10-31, so the window
    closes on 11-30: the statement prints that deadline, a claim on 11-30 is taken and
    one on 12-01 refused, naming the date and the 30 days."""
    w = kit.world(template, tmp_path, now=kit.at("11-30 12:00"), claim_window_days=30)
    try:
        doc = json.loads(w.lifecycle.render("acme", "2026-10", "json", w.clock.now).body)
        assert doc["claim"]["deadline"] == "2026-11-30" and doc["claim"]["window_days"] == 30
        staff = Actor.staff("ops")
        w.claims.submit(w.claims.new_claim("acme", "2026-10", "outage", [], None, None), staff)
        w.clock.now = kit.at("12-01 00:00")
        with pytest.raises(ClaimConflict, match=r"closed on 2026-11-30 \(30 days after"):
            w.claims.submit(w.claims.new_claim("globex", "2026-10", "outage", [], None, None),
                            staff)
    finally:
        w.close()
