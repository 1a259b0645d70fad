"""A journey run's steps in the record: the store (table journey_steps, schema 4 and
the migration from 3), the interchange format and its importer, the results API.

The steps kept are those of a real run against the fake platform of
tests/probes/test_journey.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from probes import journey
from probes.base import ProbeContext
from slaguard.access import STAFF_READ, Principals
from slaguard.domain import (
    ErrorClass,
    InterchangeError,
    Outcome,
    ProbeError,
    ProbeResult,
    StepResult,
    from_interchange,
    to_interchange,
    to_json_line,
)
from slaguard.errors import ImportFileError
from slaguard.importer import Known, import_results
from slaguard.server import ServerDeps, make_app
from slaguard.store import SQLiteStore
from tests.probes.test_journey import Platform, journey_target, platform_app

INTERVALS = {"bid-doc": 60_000}
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
STAFF = "staff-read-token"


@pytest.fixture
async def runs() -> AsyncIterator[list[ProbeResult]]:
    """Two real runs: one through, one whose job failed (clean-up after it)."""
    p = Platform()
    server = TestServer(platform_app(p), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/")).rstrip("/")
    ctx = ProbeContext(location="sh")
    ok = await journey.run(journey_target(url), ctx)
    p.polls, p.job_fails = 0, True
    failed = await journey.run(journey_target(url), ctx)
    await server.close()
    assert ok.outcome is Outcome.SUCCESS and failed.outcome is Outcome.FAILURE
    yield [ok, failed]


def test_store_keeps_every_step(tmp_path: Path, runs: list[ProbeResult]) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        store.add(runs, INTERVALS)
        back = store.results("bid-doc")
        assert back == [r.with_(duration_us=None) for r in runs]
        assert [len(r.steps) for r in back] == [6, 5]
        assert back[1].steps[3].error == runs[1].steps[3].error
        assert store.latest()[0].steps == runs[1].steps
        # A duplicate (same series and ts) adds neither a result nor steps.
        assert store.add(runs, INTERVALS).duplicates == 2
        assert store._db.execute("SELECT COUNT(*) FROM journey_steps").fetchone() == (11,)
    finally:
        store.close()


def test_step_elapsed_for_step_objectives(tmp_path: Path, runs: list[ProbeResult]) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        store.add(runs, INTERVALS)
        rows = store.step_elapsed(["bid-doc"], runs[0].ts_ms, runs[1].ts_ms + 1)["bid-doc"]
        gen = [row for row in rows if row[2] == "generate"]
        assert gen == [(runs[0].ts_ms, "sh", "generate", runs[0].steps[3].elapsed_ms, True),
                       (runs[1].ts_ms, "sh", "generate", runs[1].steps[3].elapsed_ms, False)]
        assert store.step_elapsed(["bid-doc"], 0, runs[0].ts_ms) == {"bid-doc": []}
    finally:
        store.close()


def test_a_schema_3_store_gains_the_steps_table(tmp_path: Path) -> None:
    """A version 3 store (before journeys) opens as version 4, its results intact."""
    path = tmp_path / "v3.db"
    r = ProbeResult(1_790_784_000_000, "web", "core", "sh", "http", Outcome.SUCCESS, 40)
    store = SQLiteStore(path)
    store.add([r], {"web": 30_000})
    store.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TABLE journey_steps")
    db.execute("UPDATE meta SET value='3' WHERE key='schema'")
    db.close()
    store = SQLiteStore(path)
    try:
        assert store._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("4",)
        assert store.results("web") == [r]
        assert store._db.execute("SELECT COUNT(*) FROM journey_steps").fetchone() == (0,)
    finally:
        store.close()


# -- interchange ----------------------------------------------------------------


def test_interchange_round_trip(runs: list[ProbeResult]) -> None:
    for r in runs:
        line = to_json_line(r)
        assert from_interchange(json.loads(line)) == r
    doc = to_interchange(runs[1])
    assert doc["steps"][3] == {
        "step": "generate", "offset_ms": runs[1].steps[3].offset_ms,
        "elapsed_ms": runs[1].steps[3].elapsed_ms, "attempts": 2, "ok": False,
        "status_code": 200,
        "error": {"class": "assertion",
                  "message": "step generate: $.state is 'failed' (fail_if), after 2 polls"}}
    assert "steps" not in to_interchange(runs[0].with_(kind="journey", steps=()))


STEP = {"step": "login", "offset_ms": 0, "elapsed_ms": 12, "attempts": 1, "ok": True}


@pytest.mark.parametrize(("steps", "kind", "message"), [
    ([STEP], "http", "steps: only a journey result has steps, kind is 'http'"),
    ({"login": 1}, "journey", "steps: expected a list"),
    (["login"], "journey", "steps[0]: expected an object"),
    ([{**STEP, "elapsed_ms": -1}], "journey",
     "steps[0].elapsed_ms: expected a non-negative integer, got -1"),
    ([STEP, {**STEP, "ok": "yes"}], "journey", "steps[1].ok: expected true or false"),
    ([{**STEP, "ok": False}], "journey",
     "steps[0].error: a step has an error exactly when ok is false"),
    ([{**STEP, "took": 3}], "journey", "steps[0].took: unknown key"),
    ([{**STEP, "step": ""}], "journey", "steps[0].step: required string"),
    ([{k: v for k, v in STEP.items() if k != "offset_ms"}], "journey",
     "steps[0].offset_ms: required"),
])
def test_interchange_refuses_bad_steps(steps: object, kind: str, message: str) -> None:
    doc = {"ts": "2026-10-01T00:00:00+08:00", "target": "bid-doc", "service": "core",
           "location": "sh", "kind": kind, "outcome": "success", "duration_ms": 100,
           "steps": steps}
    with pytest.raises(InterchangeError) as exc:
        from_interchange(doc)
    assert str(exc.value) == message


def test_import_results_keeps_steps_and_names_a_bad_one(tmp_path: Path,
                                                        runs: list[ProbeResult]) -> None:
    known = Known({"bid-doc": "core"}, INTERVALS, {"bid-doc": "journey"}, ("sh",))
    good = tmp_path / "good.jsonl"
    good.write_text("".join(to_json_line(r) + "\n" for r in runs), encoding="utf-8")
    store = SQLiteStore(tmp_path / "s.db")
    try:
        assert import_results(store, good, known).added == 2
        assert [r.steps for r in store.results("bid-doc")] == [r.steps for r in runs]
        bad_doc = to_interchange(runs[0])
        bad_doc["steps"][2]["elapsed_ms"] = 2 * 86_400_000
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps(bad_doc) + "\n", encoding="utf-8")
        with pytest.raises(ImportFileError) as exc:
            import_results(store, bad, known)
        assert str(exc.value) == (f"{bad}:1: steps[2].elapsed_ms: 172800000 is more than "
                                  "the largest allowed, 86400000")
    finally:
        store.close()


# -- the results API ------------------------------------------------------------


async def test_results_api_includes_the_steps(tmp_path: Path, runs: list[ProbeResult],
                                              aiohttp_client: ClientFactory) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.add(runs, INTERVALS)
    deps = ServerDeps(store=store, registry=CollectorRegistry(), started_ms=0,
                      now_ms=lambda: 5_000, principals=Principals([(STAFF, STAFF_READ)]))
    client = await aiohttp_client(make_app(deps), headers={"Authorization": f"Bearer {STAFF}"})
    resp = await client.get("/api/v1/results", params={"target": "bid-doc"})
    assert resp.status == 200
    doc = await resp.json()
    assert [r["steps"] for r in doc["results"]] == [to_interchange(r)["steps"] for r in runs]
    assert [s["step"] for s in doc["results"][1]["steps"]] == [
        "login", "upload", "start", "generate", "cleanup"]
    store.close()


def test_step_result_defaults() -> None:
    st = StepResult("x", 0, 5, error=ProbeError(ErrorClass.TIMEOUT, "t"), ok=False)
    assert from_interchange({"ts": "2026-10-01T00:00:00Z", "target": "j", "service": "s",
                             "location": "l", "kind": "journey", "outcome": "failure",
                             "duration_ms": 5, "steps": [
                                 {"step": "x", "offset_ms": 0, "elapsed_ms": 5, "ok": False,
                                  "error": "timeout: t"}]}).steps == (st,)
