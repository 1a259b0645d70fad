"""The policy engine on the reference calculations (fee 10 000.00, a 30-day month)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slaguard.policy import compensation_policy
from slo.compensation import (
    CAPPED_KINDS,
    CompensationPolicy,
    IncidentRecord,
    assess_credits,
    data_loss_tier,
    incident_credit,
    incidents_for,
    service_credit,
    share_of_fee,
)
from slo.fmt import percent_down

from .kit import FEE, HOUR, MIN, SEPT, T0, at_percent, down, late, policy
from .scenario import config


def amounts(fee: Decimal, *avail: object, **kw: object) -> list[tuple[str, str]]:
    credits = assess_credits(fee, list(avail), [], policy(**kw), T0)  # type: ignore[arg-type]
    return [(x.kind, str(x.amount)) for x in credits.lines]


def availability_amount(seconds: int, mode: str = "tiered") -> Decimal:
    c = service_credit(down(seconds), policy(mode=mode))
    return share_of_fee(FEE, c.percent)


@pytest.mark.parametrize(("minutes", "amount"), [
    (0, "0.00"), (43, "0.00"), (44, "1000.00"), (432, "1000.00"), (433, "2500.00"),
    (2160, "2500.00"), (2161, "5000.00"), (4320, "5000.00"), (4321, "10000.00"),
    (43200, "10000.00"),
])
def test_tiered_by_downtime(minutes: int, amount: str) -> None:
    assert availability_amount(minutes * MIN) == Decimal(amount)


def test_exactly_99_percent_is_in_the_10_percent_tier() -> None:
    c = service_credit(down(432 * MIN), policy())
    assert c.availability == Fraction(99, 100) and c.tier == (Decimal("99.0"), Decimal(10))
    assert c.availability_text == "99.000"


def test_tiers_use_the_exact_value_and_display_rounds_down() -> None:
    c = service_credit(down(2610, period=2_592_000), policy())
    assert c.availability_text == "99.899"  # 99.89930… never shows as 99.90
    assert percent_down(c.availability) == "99.899" and c.percent == 10


@pytest.mark.parametrize(("percent", "tiered", "linear", "best"), [
    ("99.90", "0.00", "0.00", "0.00"),
    ("99.8999", "1000.00", "0.10", "1000.00"),
    ("99.50", "1000.00", "400.00", "1000.00"),
    ("99.00", "1000.00", "900.00", "1000.00"),
    ("98.99", "2500.00", "910.00", "2500.00"),
    ("95.00", "2500.00", "4900.00", "4900.00"),
    ("94.99", "5000.00", "4910.00", "5000.00"),
    ("90.00", "5000.00", "9900.00", "9900.00"),
    ("89.99", "10000.00", "9910.00", "10000.00"),
    ("85", "10000.00", "10000.00", "10000.00"),  # linear clamped at 100 %
])
def test_modes_by_availability(percent: str, tiered: str, linear: str, best: str) -> None:
    for mode, expected in (("tiered", tiered), ("linear", linear), ("max", best)):
        c = service_credit(at_percent(percent), policy(mode=mode))
        assert share_of_fee(FEE, c.percent) == Decimal(expected), (mode, percent)


def test_linear_rule_names_the_formula_and_max_names_the_winner() -> None:
    credits = assess_credits(FEE, [at_percent("99.5")], [], policy(mode="linear"), T0)
    (line,) = credits.lines
    assert line.amount == Decimal("400.00") and line.rule.startswith("linear:")
    credits = assess_credits(FEE, [at_percent("95")], [], policy(mode="max"), T0)
    assert "the greater applies (linear)" in credits.lines[0].rule
    assert credits.lines[0].amount == Decimal("4900.00")


def test_objective_sets_the_top_tier() -> None:
    storage = service_credit(down(300, objective="99.99"), policy())
    assert (storage.tier, storage.tier_upper) == ((Decimal("99.0"), Decimal(10)),
                                                  Decimal("99.99"))
    assert service_credit(down(259, objective="99.99"), policy()).applied == "met"
    low = service_credit(down(300, objective="98"), policy())  # the 99 % tier is above it
    assert low.applied == "met" and low.percent == 0


def test_several_services_pay_the_largest_not_the_sum() -> None:
    core, storage = down(44 * MIN), down(433 * MIN, objective="99.99", service="storage")
    credits = assess_credits(FEE, [core, storage], [], policy(), T0)
    (line,) = credits.lines
    assert (line.kind, line.service, line.amount) == ("availability", "storage",
                                                      Decimal("2500.00"))
    assert "not their sum" in line.rule


def test_prorata_is_paid_instead_when_greater_never_both() -> None:
    """Fee 10 000.00, a 30-day month (2 592 000 s), objective 99.9 % (43.2 min).

    The pro-rata refund (计划外中断: 按中断时间比例补偿) is owed every month by default:
    43 min → 10 000 × 2 580 / 2 592 000 = 9.9537 → 9.95, paid although the objective
    is met (availability credit 0).  44 min → tiered 10 % = 1 000.00 beats pro rata
    10 000 × 2 640 / 2 592 000 = 10.185 → 10.19: only the greater is paid."""
    assert availability_amount(43 * MIN) == Decimal("0.00")
    assert amounts(FEE, down(43 * MIN)) == [("interruption", "9.95")]
    assert amounts(FEE, down(44 * MIN)) == [("availability", "1000.00")]
    assert share_of_fee(FEE, service_credit(down(44 * MIN), policy()).prorata) == \
        Decimal("10.19")
    # Without the interruption rule the month within the objective pays nothing.
    assert amounts(FEE, down(43 * MIN), interruption="none") == [("availability", "0.00")]
    # Under linear, pro rata wins just below the objective (above 99.889 %):
    # 46 min → linear 0.0648 % (6.48), pro rata 0.1065 % (10.65); 60 min → linear wins.
    assert amounts(FEE, down(46 * MIN), mode="linear") == [("interruption", "10.65")]
    assert amounts(FEE, down(60 * MIN), mode="linear") == [("availability", "38.89")]


@pytest.mark.parametrize(("seconds", "always", "when_missed"), [
    # 2 592 s is exactly 99.9 % of 2 592 000 s: met, so nothing under the other reading.
    (0, [("availability", "0.00")], [("availability", "0.00")]),
    (1, [("interruption", "0.00")], [("availability", "0.00")]),
    (2_591, [("interruption", "10.00")], [("availability", "0.00")]),
    (2_592, [("interruption", "10.00")], [("availability", "0.00")]),
    (2_593, [("availability", "1000.00")], [("availability", "1000.00")]),
])
def test_interruption_refund_every_month_or_only_when_the_objective_is_missed(
        seconds: int, always: list[tuple[str, str]], when_missed: list[tuple[str, str]]
) -> None:
    """Fee 10 000.00, 30 days, 99.9 % (budget 2 592 s).  Pro rata = 10 000 × s / 2 592 000:
    1 s → 0.00386 → 0.00; 2 591 s → 9.99614 → 10.00; 2 592 s → 10.00 exactly; 2 593 s
    misses the objective (tiered 10 % = 1 000.00, greater than 10.004 pro rata)."""
    assert amounts(FEE, down(seconds)) == always
    assert amounts(FEE, down(seconds), interruption_refund="when_objective_missed") == \
        when_missed


def test_the_statement_names_the_interruption_rule_applied() -> None:
    """The issue's case: 1 800 s down in a 31-day month (2 678 400 s), fee 12 000.00:
    12 000 × 1 800 / 2 678 400 = 8.0645 → 8.06 (objective met: 99.932 %)."""
    month = down(1_800, period=31 * 86_400)
    [line] = assess_credits(Decimal("12000.00"), [month], [], policy(), T0).lines
    assert (line.kind, str(line.amount)) == ("interruption", "8.06")
    assert "owed every month" in line.rule and "每月均按中断时间比例补偿" in line.rule_zh
    [other] = assess_credits(Decimal("12000.00"), [month], [],
                             policy(interruption_refund="when_objective_missed"), T0).lines
    assert (other.kind, str(other.amount)) == ("availability", "0.00")
    assert "owed when the objective is missed" in other.rule
    assert "仅在未达可用性目标时" in other.rule_zh


@pytest.mark.parametrize(("response", "percent"), [
    (4 * HOUR, 0), (5 * HOUR, 5), (6 * HOUR, 5), (6 * HOUR + MIN, 10), (8 * HOUR, 10),
    (8 * HOUR + MIN, 20), (30 * HOUR, 20),
])
def test_response_credit_by_lateness(response: int, percent: int) -> None:
    ic = incident_credit(late(response), policy(), T0)
    assert ic.response_percent == percent


def test_unanswered_incident_is_late_as_of_now() -> None:
    inc = IncidentRecord("INC-9", "P3", T0)
    assert incident_credit(inc, policy(), T0 + 5 * HOUR * 1000).response_percent == 5
    assert incident_credit(inc, policy(), T0 + 3 * HOUR * 1000).response_percent == 0
    ic = incident_credit(inc, policy(), T0 + 9 * HOUR * 1000)
    assert not ic.answered and ic.response_percent == 20


def test_response_worst_or_sum() -> None:
    incs = [late(5 * HOUR, id_="A"), late(7 * HOUR, id_="B"), late(3 * HOUR, id_="C")]
    worst = assess_credits(FEE, [], incs, policy(), T0)
    assert [(x.kind, x.incident, str(x.amount)) for x in worst.lines] == [
        ("response", "B", "1000.00")]
    assert "worst of 2 late incidents" in worst.lines[0].rule
    total = assess_credits(FEE, [], incs, policy(response_combine="sum"), T0)
    assert [(x.incident, str(x.amount)) for x in total.lines] == [("A", "500.00"),
                                                                    ("B", "1000.00")]
    assert total.total == Decimal("1500.00")


def test_unknown_priority_is_flagged_not_guessed() -> None:
    credits = assess_credits(FEE, [], [late(9 * HOUR, priority="P9")], policy(), T0)
    assert credits.lines == () and "no respond standard" in credits.reviews[0]


@pytest.mark.parametrize(("lost", "amount", "review"), [
    (1, "5000.00", False), (59 * MIN, "5000.00", False), (60 * MIN, "10000.00", False),
    (24 * HOUR, "10000.00", False), (24 * HOUR + MIN, "30000.00", True),
])
def test_data_loss(lost: int, amount: str, review: bool) -> None:
    credits = assess_credits(FEE, [], [late(0, lost_s=lost)], policy(), T0)
    (line,) = credits.lines
    assert (line.kind, str(line.amount), line.review) == ("data_loss", amount, review)
    assert bool(credits.reviews) == review


def test_data_loss_tier_bounds() -> None:
    tiers = policy().data_loss_tiers
    assert [data_loss_tier(s, tiers) for s in (0, 3599, 3600, 86_400, 86_401)] == [-1, 0, 1, 1, 2]
    bounded = ((3600, Decimal(50)), (86_400, Decimal(100)))  # no open tier: past it, review
    p = policy(data_loss_tiers=bounded)
    ic = incident_credit(late(0, lost_s=90_000), p, T0)
    assert (ic.data_loss_percent, ic.review) == (100, True)


def test_cap_line() -> None:
    credits = assess_credits(FEE, [down(4321 * MIN)], [late(9 * HOUR)], policy(), T0)
    assert [(x.kind, str(x.amount), str(x.percent)) for x in credits.lines] == [
        ("availability", "10000.00", "100"), ("response", "2000.00", "20"),
        ("cap", "-2000.00", "-20")]
    assert credits.total == Decimal("10000.00") and credits.total_in_words == "壹万元整"


def test_data_loss_sits_outside_the_cap() -> None:
    incs = [late(9 * HOUR, lost_s=25 * HOUR)]
    credits = assess_credits(FEE, [down(4321 * MIN)], incs, policy(), T0)
    assert [x.kind for x in credits.lines] == ["availability", "response", "cap", "data_loss"]
    assert credits.total == Decimal("40000.00")


def test_incidents_for_a_customer_and_month() -> None:
    incs = [IncidentRecord("A", "P1", T0), IncidentRecord("B", "P1", T0, customer="other"),
            IncidentRecord("C", "P1", T0, services=("storage",)),
            IncidentRecord("D", "P1", T0, services=("core",)),
            IncidentRecord("E", "P1", T0 - 1), IncidentRecord("F", "P1", T0 + SEPT * 1000)]
    mine = incidents_for(incs, "acme", ["core"], T0, T0 + SEPT * 1000)
    assert [i.id for i in mine] == ["A", "D"]


def test_incident_record_checks() -> None:
    with pytest.raises(ValueError, match="before opened"):
        IncidentRecord("X", "P1", T0, responded_ms=T0 - 1)
    with pytest.raises(ValueError, match="negative"):
        IncidentRecord("X", "P1", T0, data_lost_seconds=-1)


def test_policy_from_config() -> None:
    p = compensation_policy(config())
    assert p.policy_version == "2026.1" and p.mode == "tiered"
    assert p.availability_tiers[0] == (Decimal("99.0"), Decimal(10))
    assert p.response_tiers[-1] == (None, Decimal(20))
    assert p.data_loss_tiers == ((3600, Decimal(50)), (86_400, Decimal(100)),
                                 (None, Decimal(300)))
    assert p.respond_ms["P1"] == 900_000 and p.settlement == ("fee_reduction", "extension")


def test_policy_sorts_its_tiers() -> None:
    p = CompensationPolicy(availability_tiers=((Decimal(0), Decimal(100)),
                                               (Decimal(99), Decimal(10))),
                           response_tiers=((None, Decimal(20)), (Decimal(50), Decimal(5))))
    assert p.availability_tiers[0][0] == 99 and p.response_tiers[-1][0] is None


# -- properties --------------------------------------------------------------------

fees = st.integers(min_value=0, max_value=10**9).map(lambda fen: Decimal(fen).scaleb(-2))
downtimes = st.lists(st.integers(min_value=0, max_value=SEPT), min_size=0, max_size=3)
incidents = st.lists(
    st.tuples(st.integers(min_value=0, max_value=40 * HOUR),
              st.integers(min_value=0, max_value=30 * HOUR)),
    max_size=4)


@settings(max_examples=300, deadline=None)
@given(fee=fees, downs=downtimes, incs=incidents, mode=st.sampled_from(["tiered", "linear", "max"]),
       combine=st.sampled_from(["worst", "sum"]))
def test_total_is_the_sum_of_rounded_lines_and_the_cap_holds(
        fee: Decimal, downs: list[int], incs: list[tuple[int, int]], mode: str,
        combine: str) -> None:
    avail = [down(s, service=f"s{i}") for i, s in enumerate(downs)]
    records = [late(r, id_=f"I{i}", lost_s=lost) for i, (r, lost) in enumerate(incs)]
    credits = assess_credits(fee, avail, records, policy(mode=mode, response_combine=combine),
                             T0)
    assert credits.total == sum((x.amount for x in credits.lines), Decimal(0))
    assert all(x.amount == x.amount.quantize(Decimal("0.01")) for x in credits.lines)
    capped = sum((x.amount for x in credits.lines if x.kind in (*CAPPED_KINDS, "cap")),
                 Decimal(0))
    assert Decimal(0) <= capped <= fee
    assert credits.total >= 0
    assert sum(x.kind in ("availability", "interruption") for x in credits.lines) == \
        (1 if avail else 0)


@settings(max_examples=200, deadline=None)
@given(a=st.integers(min_value=0, max_value=SEPT), b=st.integers(min_value=0, max_value=SEPT),
       mode=st.sampled_from(["tiered", "linear", "max"]))
def test_more_downtime_never_pays_less(a: int, b: int, mode: str) -> None:
    lo, hi = sorted((a, b))
    p = policy(mode=mode)
    assert service_credit(down(lo), p).percent <= service_credit(down(hi), p).percent
