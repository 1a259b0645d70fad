"""Timelines: confirmation, unknowns, gaps, quorum over knowing locations, service any/all."""

from __future__ import annotations

import pytest
from slo_testkit import IV, policy, series, timeline

from slaguard.domain import Outcome
from slo.model import AvailabilityRules, QuorumRule
from slo.runs import runs_from_results
from slo.timeline import SeriesTimeline, series_timeline

T0 = 1_000_000_000_000


def one(pattern: str, confirm: int = 2, until_extra: int = 0) -> SeriesTimeline:
    s = series("web", "a", pattern, T0)
    return series_timeline(s.runs, IV, confirm, T0 + len(pattern) * IV + until_extra)


def rel(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Intervals in slots relative to T0."""
    return [((a - T0) // IV, (b - T0) // IV) for a, b in pairs]


def test_single_failure_is_a_blip_with_confirm_2() -> None:
    tl = one("SSFSS")
    assert not tl.down
    assert rel(tl.blips.pairs()) == [(2, 3)]
    assert rel(tl.failing.pairs()) == [(2, 3)]


def test_two_failures_are_down_from_the_first_until_the_next_success() -> None:
    tl = one("SSFFSS")
    assert rel(tl.down.pairs()) == [(2, 4)]
    assert not tl.blips


def test_confirm_1_makes_every_failure_down() -> None:
    assert rel(one("SFS", confirm=1).down.pairs()) == [(1, 2)]


def test_unknown_does_not_reset_the_count_but_is_never_down() -> None:
    tl = one("SFUFS")
    assert rel(tl.down.pairs()) == [(1, 2), (3, 4)]
    assert rel(tl.known.pairs()) == [(0, 2), (3, 5)]


def test_a_success_in_between_makes_two_blips() -> None:
    tl = one("FSF")
    assert not tl.down
    assert len(tl.blips) == 2


def test_one_missed_probe_keeps_coverage_a_longer_gap_breaks_it() -> None:
    # F.F: the next result comes within 2 × interval, so the first covers two slots.
    assert rel(one("F.FS").down.pairs()) == [(0, 3)]
    # F..F: 3 intervals later is a gap; the chain breaks, both are blips.
    tl = one("F..FS")
    assert not tl.down
    assert rel(tl.known.pairs()) == [(0, 1), (3, 5)]


def test_last_result_is_cut_at_now() -> None:
    s = series("web", "a", "SFF", T0)
    tl = series_timeline(s.runs, IV, 2, T0 + 2 * IV + 10_000)
    assert tl.down.pairs() == [(T0 + IV, T0 + 2 * IV + 10_000)]


def test_out_of_order_runs_are_sorted() -> None:
    s = series("web", "a", "SSFFSS", T0)
    tl = series_timeline(list(reversed(s.runs)), IV, 2, T0 + 6 * IV)
    assert rel(tl.down.pairs()) == [(2, 4)]


def quorum(patterns: dict[str, str], rule: QuorumRule) -> list[tuple[int, int]]:
    pol = policy(rules=AvailabilityRules(quorum=rule))
    runs = [series("web", loc, p, T0) for loc, p in patterns.items()]
    n = max(len(p) for p in patterns.values())
    return rel(timeline(pol, runs, T0 + n * IV).down.pairs())


@pytest.mark.parametrize(("patterns", "down"), [
    ({"a": "SFFS", "b": "SFFS", "c": "SSSS"}, [(1, 3)]),  # 2 of 3 down → down
    ({"a": "SFFS", "b": "SSSS", "c": "SSSS"}, []),  # 1 of 3 → not
    ({"a": "SFFS", "b": "SSSS", "c": "UUUU"}, []),  # 1 of 2 knowing → not a majority
    ({"a": "SFFS", "b": "SFFS", "c": "UUUU"}, [(1, 3)]),  # 2 of 2 knowing
    ({"a": "SFFS", "b": "....", "c": "UUUU"}, [(1, 3)]),  # 1 of 1 knowing
    ({"a": "SFFS", "b": "SFFS", "c": "SSFS"}, [(1, 3)]),  # c's blip is not down
])
def test_majority_of_the_locations_that_know(patterns: dict[str, str],
                                             down: list[tuple[int, int]]) -> None:
    assert quorum(patterns, "majority") == down


def test_other_quorum_rules() -> None:
    pats = {"a": "SFFFS", "b": "SSFFS", "c": "UUUUU"}
    assert quorum(pats, "any") == [(1, 4)]
    assert quorum(pats, "all") == [(2, 4)]  # c never knows: all of a and b
    assert quorum(pats, 2) == [(2, 4)]
    assert quorum(pats, 3) == []  # only two locations know
    with pytest.raises(ValueError):
        quorum(pats, "most")  # type: ignore[arg-type]


def test_service_down_when_any_or_all_targets_are_down() -> None:
    runs = [series("web", "a", "SFFSSS", T0), series("api", "a", "SSFFFS", T0)]
    until = T0 + 6 * IV
    any_ = timeline(policy(targets=("web", "api")), runs, until)
    all_ = timeline(policy(targets=("web", "api"), down_when="all"), runs, until)
    assert rel(any_.down.pairs()) == [(1, 5)]
    assert rel(all_.down.pairs()) == [(2, 3)]


def test_non_availability_targets_are_ignored() -> None:
    pol = policy(targets=("web",))
    runs = [series("web", "a", "SSSS", T0), series("other", "a", "FFFF", T0)]
    assert not timeline(pol, runs, T0 + 4 * IV).down


def test_service_without_any_series_knows_nothing() -> None:
    tl = timeline(policy(), [], T0 + IV)
    assert not tl.known and not tl.down


def test_runs_kept_across_a_period_start_confirm_correctly() -> None:
    # One failure before "now − x" and one after: the run carries the count.
    ts = [T0, T0 + IV, T0 + 2 * IV, T0 + 3 * IV]
    runs = runs_from_results(ts, [Outcome.SUCCESS, Outcome.FAILURE, Outcome.FAILURE,
                                  Outcome.SUCCESS], IV)
    tl = series_timeline(runs, IV, 2, T0 + 4 * IV)
    assert tl.down.clip(T0 + 2 * IV, T0 + 4 * IV).pairs() == [(T0 + 2 * IV, T0 + 3 * IV)]
