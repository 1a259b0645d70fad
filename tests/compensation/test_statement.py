"""The statement of the scenario month: golden JSON, HTML and CSV, and its facts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from exporters import statement_csv, statement_html, statement_json
from slaguard.config import Config
from slaguard.policy import compensation_policy
from slo import Report
from slo.statement import Statement, build_statement, content_hash

from . import scenario as sc

GOLDEN = Path(__file__).parent / "golden"
MONEY = re.compile(r"^-?\d+\.\d{2}$")


@pytest.fixture(scope="module")
def cfg() -> Config:
    return sc.config()


@pytest.fixture(scope="module")
def report(cfg: Config) -> Report:
    return sc.report(cfg)


@pytest.fixture(scope="module")
def acme(cfg: Config, report: Report) -> Statement:
    return build_statement(report, cfg.customers[0], compensation_policy(cfg), sc.INCIDENTS,
                           sc.NOW)


def test_golden_json(acme: Statement, update_golden: bool) -> None:
    from tests.conftest import check_golden

    check_golden(GOLDEN / "statement-acme-2026-10.json", statement_json.render(acme),
                 update_golden)


def test_golden_html(acme: Statement, update_golden: bool) -> None:
    from tests.conftest import check_golden

    check_golden(GOLDEN / "statement-acme-2026-10.html", statement_html.render(acme),
                 update_golden)


def test_golden_csv(acme: Statement, update_golden: bool) -> None:
    from tests.conftest import check_golden

    text = statement_csv.render(acme)
    assert text.count("\r\n") == text.count("\n") == len(acme.lines) + 2  # RFC 4180 CRLF
    # Golden files are read with universal newlines: compare line by line.
    check_golden(GOLDEN / "statement-acme-2026-10.csv", text.replace("\r\n", "\n"),
                 update_golden)
    assert statement_csv.render(acme, bom=True).startswith("\ufeffstatement,")


def test_json_has_the_documented_fields(acme: Statement) -> None:
    doc = json.loads(statement_json.render(acme))
    for key in ("customer", "month", "currency", "fee", "lines", "total", "total_in_words",
                "policy_version", "hash"):
        assert key in doc
    assert (doc["customer"], doc["month"], doc["currency"], doc["fee"]) == (
        "acme", "2026-10", "CNY", "12000.00")
    for line in doc["lines"]:
        assert {"kind", "service", "rule", "percent", "amount"} <= set(line)
        assert MONEY.match(line["amount"])
    assert MONEY.match(doc["total"]) and doc["policy_version"] == "2026.1"


def test_hash_covers_the_content(acme: Statement) -> None:
    doc = json.loads(statement_json.render(acme))
    assert re.fullmatch(r"[0-9a-f]{64}", doc["hash"])
    assert content_hash(doc) == doc["hash"]
    doc["total"] = "8400.01"
    assert content_hash(doc) != acme.hash


def test_scenario_facts(acme: Statement) -> None:
    doc = acme.to_dict()
    assert [(x["kind"], x["service"], x["percent"], x["amount"]) for x in doc["lines"]] == [
        ("availability", "core", "10", "1200.00"),
        ("response", None, "10", "1200.00"),
        ("data_loss", None, "50", "6000.00"),
    ]
    assert (doc["total"], doc["total_in_words"]) == ("8400.00", "捌仟肆佰元整")
    assert doc["settlement"] == {"options": ["fee_reduction", "extension"],
                                 "fee_reduction": "8400.00", "extension_days": 22,
                                 "days_in_month": 31}
    assert doc["claim"] == {"status": "open", "deadline": "2026-12-30", "window_days": 60}
    assert [i["id"] for i in doc["incidents"]] == ["INC-1001", "INC-1002"]
    core, storage = doc["services"]
    # 45 min observed + 20 min inside a window whose notice fell short.
    assert (core["downtime_seconds"], core["gap_seconds"], core["availability_percent"]) == (
        3900, 600, "99.854")
    assert [o["seconds"] for o in core["outages"]] == [1200, 2700]
    assert core["outages"][1]["locations"] == ["beijing", "shanghai"]
    (mw,) = core["maintenance"]
    assert (mw["qualified"], mw["notice_working_days"]) == (False, 5)
    assert "only 5 full working days" in mw["reason"]
    (mw,) = storage["maintenance"]
    assert mw["qualified"] and storage["downtime_seconds"] == 300
    assert storage["maintenance_seconds"] == 1800
    assert doc["period"]["minutes"] == "44640" and doc["period"]["complete"]


def test_another_customer_sees_its_own_incidents(cfg: Config, report: Report) -> None:
    st = build_statement(report, cfg.customers[1], compensation_policy(cfg), sc.INCIDENTS,
                         sc.NOW)
    assert [i.incident.id for i in st.credits.incidents] == ["INC-1001", "INC-1003"]
    # INC-1003: P2 answered after 3 h, 30 min standard: 500 % late → 20 % of 800.00.
    assert [(x.kind, str(x.amount)) for x in st.lines] == [
        ("availability", "80.00"), ("response", "160.00")]
    assert st.settlement.extension_days is not None


def test_the_current_month_is_provisional(cfg: Config) -> None:
    now = sc.at("10-20 10:30")
    st = build_statement(sc.report(cfg, now_ms=now), cfg.customers[0], compensation_policy(cfg),
                         sc.INCIDENTS, now)
    doc = st.to_dict()
    assert doc["claim"]["status"] == "provisional" and not doc["period"]["complete"]
    assert doc["period"]["evaluated_until"] == "2026-10-20T10:30:00+08:00"
    assert [i["id"] for i in doc["incidents"]] == ["INC-1001"]
    # The outage is still ongoing at "now"; the P1 was answered 3 min late (5 %).
    assert doc["services"][0]["outages"][-1]["ongoing"]
    html = statement_html.render(st)
    assert "provisional" in html
    # Coverage to date is explained in words, not left as a bare alarming percentage.
    assert "Coverage is the share of the month so far for which there is monitoring" in html
    assert "监测覆盖率是本月至今有监测数据的时间占比" in html
    closed = build_statement(sc.report(cfg), cfg.customers[0], compensation_policy(cfg),
                             sc.INCIDENTS, sc.NOW)
    assert "month so far" not in statement_html.render(closed)


@dataclass(frozen=True)
class Terms:
    id: str
    name: str
    monthly_fee: Decimal
    services: tuple[str, ...]
    contract: str | None = None


def test_claim_window_closes_60_days_after_the_month(cfg: Config, report: Report) -> None:
    pol = compensation_policy(cfg)
    late = build_statement(report, cfg.customers[0], pol, sc.INCIDENTS,
                           sc.at("12-31 00:00"))
    assert late.claim.status == "expired"
    still = build_statement(report, cfg.customers[0], pol, sc.INCIDENTS, sc.at("12-30 23:59"))
    assert still.claim.status == "open"


def test_no_credit_when_the_month_was_clean(cfg: Config) -> None:
    rep = sc.report(cfg, month="2026-11", now_ms=sc.at("11-02 00:00") + 30 * 86_400_000)
    clean = Terms("quiet", "Quiet Co.", Decimal("500.00"), ("storage",))
    st = build_statement(rep, clean, compensation_policy(cfg), [], rep.period.end_ms)
    assert st.total == 0 and st.claim.status == "no_credit"
    assert st.credits.total_in_words == "零元整"


def test_missing_service_is_an_error(cfg: Config, report: Report) -> None:
    other = Terms("x", "X", Decimal("1.00"), ("nope",))
    with pytest.raises(ValueError, match="no service"):
        build_statement(report, other, compensation_policy(cfg), [], sc.NOW)


def test_html_is_bilingual_and_printable(acme: Statement) -> None:
    html = statement_html.render(acme)
    for text in ("服务补偿对账单", "补偿申请流程", "服务补偿标准", "补偿明细", "大写金额",
                 "服务延期", "费用减免", "SLA compensation statement", "Claim process",
                 "size: A4", "人民币捌仟肆佰元整", "8400.00", acme.hash):
        assert text in html, text


def test_html_escapes_customer_text(cfg: Config, report: Report) -> None:
    evil = Terms("acme", "<script>x</script>", Decimal("1.00"), ("core",))
    html = statement_html.render(build_statement(report, evil, compensation_policy(cfg), [],
                                                 sc.NOW))
    assert "<script>x" not in html and "&lt;script&gt;" in html
    with pytest.raises(ValueError):
        statement_html.render(build_statement(report, evil, compensation_policy(cfg), [],
                                              sc.NOW), font_family='x"; } body {')


def test_an_outage_of_a_browser_target_links_its_evidence(cfg: Config, report: Report) -> None:
    """A browser target's failed checks kept a screenshot and a trace: each of its
    outages in the statement carries the API path of that evidence (staff read), and
    the HTML links it; other targets' outages carry none."""
    outages = [o for s in report.services for o in s.availability.outages]
    browser = outages[0].targets[0]
    st = build_statement(report, cfg.customers[0], compensation_policy(cfg), sc.INCIDENTS,
                         sc.NOW, evidence_targets=[browser])
    doc = json.loads(statement_json.render(st))
    listed = [o for s in doc["services"] for o in s["outages"]]
    for o, seen in zip(outages, listed, strict=True):
        if browser in o.targets:
            assert seen["evidence"] == [f"/api/v1/evidence?target={browser}&from={o.start_ms}"
                                        f"&to={o.end_ms}"]
        else:
            assert "evidence" not in seen
    assert f'<a href="/api/v1/evidence?target={browser}&amp;from=' in statement_html.render(st)
    plain = json.loads(statement_json.render(build_statement(
        report, cfg.customers[0], compensation_policy(cfg), sc.INCIDENTS, sc.NOW)))
    assert all("evidence" not in o for s in plain["services"] for o in s["outages"])
