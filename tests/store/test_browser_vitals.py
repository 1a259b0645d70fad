"""A browser check's page figures in the record: the store (table browser_vitals,
schema 4), the interchange format and its importer.  Without them a restart left the
vitals gauges empty and ``import-results`` dropped what a check measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slaguard.domain import InterchangeError, Outcome, ProbeResult, from_interchange, to_json_line
from slaguard.importer import Known, import_results
from slaguard.store import SQLiteStore

T0 = 1_790_000_000_000
INTERVALS = {"home": 60_000, "api": 30_000}
VITALS = {"page_load": 812, "ttfb": 45, "dcl": 310, "load": 790, "fcp": 402, "lcp": 655,
          "cls": 37, "bytes": 184_233, "requests": 14, "failed_requests": 1}


def check(ts: int, vitals: dict[str, int] | None = None) -> ProbeResult:
    return ProbeResult(ts_ms=ts, target="home", service="core", location="sh", kind="browser",
                       outcome=Outcome.SUCCESS, duration_ms=812,
                       vitals=dict(VITALS if vitals is None else vitals))


def test_the_store_keeps_a_checks_vitals(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "slaguard.db")
    http = ProbeResult(ts_ms=T0, target="api", service="core", location="sh", kind="http",
                       outcome=Outcome.SUCCESS, duration_ms=20)
    first, second = check(T0), check(T0 + 60_000, vitals={"page_load": 901})
    store.add([first, http], INTERVALS)
    store.add([second, check(T0)], INTERVALS)  # a duplicate adds no second set of vitals
    assert store.results("home") == [first, second]
    assert store.results("api") == [http]
    assert {r.target: r.vitals for r in store.latest()} == {"home": {"page_load": 901},
                                                            "api": {}}
    store.close()
    again = SQLiteStore(tmp_path / "slaguard.db")  # after a restart
    assert again.results("home")[0].vitals == VITALS
    again.close()


def test_vitals_cross_the_interchange_format_and_the_importer(tmp_path: Path) -> None:
    line = to_json_line(check(T0))
    assert json.loads(line)["vitals"] == dict(sorted(VITALS.items()))
    assert from_interchange(json.loads(line)) == check(T0)
    path = tmp_path / "in.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    store = SQLiteStore(tmp_path / "slaguard.db")
    import_results(store, str(path), Known(services={"home": "core"}, intervals=INTERVALS))
    assert store.results("home")[0].vitals == VITALS
    store.close()


@pytest.mark.parametrize(("vitals", "kind", "message"), [
    ([1, 2], "browser", "vitals: expected an object"),
    ({"lcp": -1}, "browser", "vitals.lcp: expected a non-negative integer, got -1"),
    ({"lcp": 1.5}, "browser", "vitals.lcp: expected a non-negative integer, got 1.5"),
    ({"LCP ms": 1}, "browser", "vitals: not a vital's name: 'LCP ms'"),
    ({"lcp": 1}, "http", "vitals: only a browser result has vitals, kind is 'http'"),
])
def test_bad_vitals_are_refused_naming_the_field(vitals: object, kind: str,
                                                 message: str) -> None:
    doc = json.loads(to_json_line(check(T0)))
    doc.update(vitals=vitals, kind=kind)
    with pytest.raises(InterchangeError) as e:
        from_interchange(doc)
    assert str(e.value) == message
