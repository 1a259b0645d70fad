"""Daily bars: exact numbers on the scripted record, agreement with the SLO report, caching."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from slaguard.statuspage import DailyBars, DayBar, State, day_doc, minutes_text, uptime
from slo.evaluator import LOOKBACK_MS
from slo.model import MaintenanceSpec
from slo.periods import date_range

from . import scenario as sc

OCT = {d: date(2025, 10, d) for d in range(1, 32)}


class Spy:
    """The store, recording the ``from_ms`` of every ``runs`` query."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: list[int] = []

    def runs(self, from_ms: int, to_ms: int, targets: Any = None) -> Any:
        self.calls.append(from_ms)
        return self.store.runs(from_ms, to_ms, targets)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    cfg = sc.config(tmp_path_factory.mktemp("bars") / "s.db")
    store = sc.store(cfg)
    yield cfg, store
    store.close()


def bars_at(world: Any, now: int, **kw: Any) -> dict[str, list[DayBar]]:
    cfg, store = world
    return DailyBars(sc.evaluator(cfg, store), **kw).bars(now)


def by_day(bars: list[DayBar]) -> dict[date, DayBar]:
    return {b.day: b for b in bars}


def test_ninety_days_ending_today_in_the_contract_time_zone(world: Any) -> None:
    bars = bars_at(world, sc.NOW)
    assert set(bars) == {"core", "storage"}
    days = [b.day for b in bars["core"]]
    assert len(days) == 90 and days[-1] == OCT[20] and days[0] == OCT[20] - timedelta(days=89)
    # 2025-10-20 03:59 UTC is already the 20th in Shanghai.
    assert bars_at(world, sc.at(20, 0, 1))["core"][-1].day == OCT[20]


def test_days_before_the_first_observation_are_no_data(world: Any) -> None:
    core = by_day(bars_at(world, sc.NOW)["core"])
    assert all(core[OCT[20] - timedelta(days=n)] == DayBar(OCT[20] - timedelta(days=n),
                                                            State.NODATA) for n in range(5, 90))
    first = core[OCT[16]]  # observed from 18:00: six hours evaluated, not 24
    assert (first.state, first.elapsed_seconds, first.availability) == (
        State.OPERATIONAL, 21_600, Fraction(1))


def test_exact_day_figures(world: Any) -> None:
    bars = bars_at(world, sc.NOW)
    core, storage = by_day(bars["core"]), by_day(bars["storage"])
    outage = core[OCT[17]]  # 300 s of 86 400
    assert (outage.state, outage.downtime_seconds, outage.availability) == (
        State.OUTAGE, 300, Fraction(287, 288))
    assert day_doc(outage)["availability_percent"] == "99.652"  # 99.65277… rounded down
    assert day_doc(outage)["downtime_minutes"] == "5"
    degraded = core[OCT[18]]  # 60 s: 99.930 % meets 99.9 %; the lone blip at c is no downtime
    assert (degraded.state, degraded.downtime_seconds, day_doc(degraded)["availability_percent"]
            ) == (State.DEGRADED, 60, "99.930")
    maint = core[OCT[19]]  # failures inside qualifying maintenance: no downtime
    assert (maint.state, maint.downtime_seconds, maint.maintenance_seconds) == (
        State.MAINTENANCE, 0, 3600)
    gap = storage[OCT[18]]  # an hour nobody could judge: counted as up, coverage shown
    assert (gap.state, gap.gap_seconds, gap.coverage, gap.availability) == (
        State.OPERATIONAL, 3600, Fraction(23, 24), Fraction(1))
    assert day_doc(gap)["coverage_percent"] == "95.833"
    today = storage[OCT[20]]  # 60 s of the 43 200 s so far: below 99.99 %
    assert (today.state, today.elapsed_seconds, today.downtime_seconds) == (
        State.OUTAGE, 43_200, 60)
    assert day_doc(today)["availability_percent"] == "99.861"


def test_ninety_day_uptime_is_the_sum_of_the_bars(world: Any) -> None:
    bars = bars_at(world, sc.NOW)
    counted = 21_600 + 3 * 86_400 + 43_200
    assert uptime(bars["core"]) == 1 - Fraction(360, counted)
    assert uptime(bars["storage"]) == 1 - Fraction(60, counted)
    assert uptime([DayBar(OCT[1], State.NODATA)]) is None


def test_each_day_agrees_with_the_slo_report_over_that_day(world: Any) -> None:
    cfg, store = world
    ev = sc.evaluator(cfg, store)
    bars = DailyBars(ev).bars(sc.NOW)
    for name in ("core", "storage"):
        for b in bars[name][-4:]:  # whole observed days
            start = sc.at(b.day.day)
            end = min(sc.NOW, start + 86_400_000)
            a = ev.report(date_range(start, end, sc.TZ), sc.NOW, [name]).service(
                name).availability
            assert (b.downtime_seconds, b.gap_seconds, b.maintenance_seconds, b.availability) == (
                a.downtime_seconds, a.gap_seconds, a.maintenance_seconds, a.availability)


def test_closed_days_are_cached_and_only_open_days_are_read_again(world: Any) -> None:
    cfg, store = world
    spy = Spy(store)
    ev = sc.evaluator(cfg, store)
    ev.store = spy  # type: ignore[assignment]
    daily = DailyBars(ev, reuse_ms=5000)
    first = daily.bars(sc.NOW)
    assert spy.calls == [sc.at(20) - 89 * 86_400_000 - LOOKBACK_MS]
    assert daily.bars(sc.NOW + 1000) == first and len(spy.calls) == 1  # reused
    later = daily.bars(sc.NOW + 60_000)
    assert spy.calls[1:] == [sc.at(20) - LOOKBACK_MS]  # today only (+ its look-back)
    assert later["core"][:-1] == first["core"][:-1]
    assert later["core"][-1].elapsed_seconds == 43_260


def test_yesterday_stays_open_until_it_has_settled(world: Any) -> None:
    cfg, store = world
    spy = Spy(store)
    ev = sc.evaluator(cfg, store)
    ev.store = spy  # type: ignore[assignment]
    daily = DailyBars(ev, reuse_ms=0)
    daily.bars(sc.at(20, 0, 5))  # five minutes after midnight: the 19th may still change
    daily.bars(sc.at(20, 0, 6))
    assert spy.calls[1] == sc.at(19) - LOOKBACK_MS
    daily.bars(sc.at(20, 0, 11))  # settled after 10 min
    daily.bars(sc.at(20, 0, 12))
    assert spy.calls[3] == sc.at(20) - LOOKBACK_MS


def test_a_new_maintenance_window_recomputes_every_day(world: Any) -> None:
    cfg, store = world
    windows: list[MaintenanceSpec] = []
    ev = sc.evaluator(cfg, store, windows)
    daily = DailyBars(ev, reuse_ms=0)
    assert daily.bars(sc.NOW)["core"][-4].state is State.OUTAGE
    # Announced on 09-25 for 10-17 09:00–11:00 (created through the API): qualifies.
    windows.append(MaintenanceSpec("api-mw", ("core",), sc.at(17, 9), sc.at(17, 11),
                                   sc.at(25, 9, month=9), "网络割接 / Network change"))
    day = daily.bars(sc.NOW + 1000)["core"][-4]
    assert (day.day, day.state, day.downtime_seconds, day.maintenance_seconds) == (
        OCT[17], State.MAINTENANCE, 0, 7200)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0"), (5, "0.1"), (6, "0.1"), (7, "0.2"), (60, "1"), (61, "1.1"), (300, "5"),
    (2_592, "43.2")])
def test_downtime_minutes_round_up_to_a_tenth(seconds: int, text: str) -> None:
    assert minutes_text(seconds) == text


def test_no_record_at_all_gives_ninety_no_data_days(tmp_path: Path) -> None:
    cfg = sc.config(tmp_path / "empty.db")
    from slaguard.store import SQLiteStore

    store = SQLiteStore(cfg.storage.path)
    try:
        bars = DailyBars(sc.evaluator(cfg, store)).bars(sc.NOW)
    finally:
        store.close()
    assert all(b.state is State.NODATA for bs in bars.values() for b in bs)
    assert uptime(bars["core"]) is None
