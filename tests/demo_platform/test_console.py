"""What ``slaguard demo`` prints for the new targets: a browser check's page load and
what the page was made of, a journey's steps (polls, the failing step's error), the
platform's books; and its banner when Chromium is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.config import DemoTokens, demo_config
from demo.console import banner, status_line
from demo.platform import Platform
from slaguard.cli import demo as cli_demo
from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult, StepResult
from slaguard.state import SeriesState

BOOKS = {"billable": {"requests": 7, "documents": 1, "pages": 10},
         "probe": {"requests": 40, "documents": 2, "pages": 200},
         "capacity": {"knee": 50, "base_ms": 2.0, "slope_ms": 4.0, "in_flight": 3,
                      "peak_in_flight": 50, "served": 900, "rejected": 12}}


def page(ms: int, ts_ms: int = 1000, **extra: object) -> ProbeResult:
    return ProbeResult(ts_ms=ts_ms, target="web-page", service="core", location="shanghai",
                       kind="browser", outcome=Outcome.SUCCESS, duration_ms=ms,
                       vitals={"page_load": ms, "ttfb": 1203, "fcp": 2450, "lcp": 3580,
                               "requests": 5, "bytes": 4096}, **extra)  # type: ignore[arg-type]


def journey(location: str, ts_ms: int, failed: bool) -> ProbeResult:
    steps = (StepResult("login", 0, 12, status_code=200),
             StepResult("upload", 12, 8210, status_code=201),
             StepResult("start", 8222, 9, status_code=202),
             StepResult("generate", 8222, 22_200 if failed else 720_000, attempts=73,
                        status_code=200, ok=not failed,
                        error=ProbeError(ErrorClass.ASSERTION, "$.state is failed")
                        if failed else None))
    return ProbeResult(ts_ms=ts_ms, target="bid-document", service="core", location=location,
                       kind="journey", outcome=Outcome.FAILURE if failed else Outcome.SUCCESS,
                       duration_ms=30_000, steps=steps)


def snapshot(*results: ProbeResult) -> list[tuple[tuple[str, str, str, str], SeriesState]]:
    return [((r.target, r.service, r.location, r.kind), SeriesState(r)) for r in results]


def test_a_spiked_page_shows_its_load_and_a_journey_its_newest_run() -> None:
    slow_page = page(3604, bound_exceeded_ms=3000)
    text = status_line(210, snapshot(
        slow_page, journey("beijing", 5000, failed=True), journey("shanghai", 2000, False)),
        None, [], 0, BOOKS)
    lines = text.splitlines()
    assert lines[0] == "[t=  210s] faults: latency-spike"
    assert lines[1:] == [
        "  web-page           shanghai slow  3604 ms",
        "    shanghai: page load 3.6 s, ttfb 1.2 s, fcp 2.5 s, lcp 3.6 s, 5 requests, 4 KiB",
        "  bid-document       beijing FAIL 30000 ms | shanghai ok   30000 ms",
        "    beijing: login 12 ms · upload 8.2 s · start 9 ms · generate 22.2 s (73 polls)"
        " FAIL: $.state is failed",
        "  platform books: billable 7 requests, 10 pages; probes 40 requests, 200 pages "
        "(not billed); load: 3 in flight, peak 50, 12 shed past the knee of 50",
        "  incidents: 0 open (none)"]
    later = status_line(10, snapshot(journey("shanghai", 9000, False)), None, [], 0)
    assert "    shanghai: login 12 ms · upload 8.2 s · start 9 ms · generate 12m00s " \
           "(73 polls)" in later.splitlines()
    assert "platform books" not in later  # no books given, no line


def test_a_failed_page_says_why() -> None:
    failed = ProbeResult(ts_ms=1, target="web-page", service="core", location="shanghai",
                         kind="browser", outcome=Outcome.FAILURE, duration_ms=31,
                         error=ProbeError(ErrorClass.HTTP_STATUS, "status 503, expected 200"),
                         vitals={"requests": 1})
    text = status_line(70, snapshot(failed), None, [], 0)
    assert "    shanghai: page load 31 ms, 1 requests, error: status 503, expected 200" in text


def test_without_chromium_the_demo_says_so_and_leaves_the_browser_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on this PATH
    missing = cli_demo.browser_missing()
    assert missing is not None and missing.startswith("no Chromium found")
    platform = Platform()
    cfg = demo_config("http://127.0.0.1:1", 9108, tmp_path, 1.0, browser=False,
                      credentials=platform.credentials)
    notes = cli_demo.notes(cfg, platform, missing)
    assert [t.name for t in cfg.targets if t.kind in ("browser", "journey")] == ["bid-document"]
    assert f"  browser       web-page skipped: {missing}" in notes
    user, password = platform.credentials
    assert ("  journey       bid-document: log in, upload, 100 pages, download, delete, "
            f"every 17m (sign-in {user} / {password})") in notes
    assert ("  capacity      slaguard demo --capacity within-capacity|past-the-knee   (a load "
            "test of the platform, its verdict printed)") in notes
    text = banner("http://127.0.0.1:9108", "http://127.0.0.1:1", 1.0, DemoTokens(),
                  notes=notes)
    assert f"web-page skipped: {missing}" in text
    assert "  books         http://127.0.0.1:1/api/usage" in text
    assert "   160–195 s  failed-jobs" in text and "   360–400 s  slow-generation" in text
