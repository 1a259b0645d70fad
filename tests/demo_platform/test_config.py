"""The demo's configuration of the new kinds: what runs on the demo clock is compressed by
``--speed`` (generation and its objective, the journey's waits), what runs in real time is
not (the upload objective, the browser's floor), and the capacity jobs are allowlisted to
the platform alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from demo.config import demo_config
from slaguard.config.browser import BrowserTarget
from slaguard.config.journey import JourneyTarget
from slaguard.config.types import format_bound

URL = "http://127.0.0.1:4321"


def test_the_journey_and_page_scale_with_the_demo_clock(tmp_path: Path) -> None:
    for speed, generate, within, interval, page_every in (
            (1, "< 10m", 15 * 60, 17 * 60, 30), (30, "< 20s", 30, 34, 10)):
        cfg = demo_config(URL, 9108, tmp_path, speed, browser=True,
                          credentials=("bid-writer", "pw"))
        by_name = {t.name: t for t in cfg.targets}
        journey, browser = by_name["bid-document"], by_name["web-page"]
        assert isinstance(journey, JourneyTarget) and isinstance(browser, BrowserTarget)
        assert [s.id for s in journey.steps] == [
            "login", "upload", "start", "generate", "download", "cleanup"]
        poll = journey.steps[3].poll
        assert poll is not None and poll.within == timedelta(seconds=within)
        assert journey.interval == timedelta(seconds=interval) > journey.timeout
        objectives = {o.step: o.elapsed for o in journey.objectives}
        assert objectives["upload"] == timedelta(seconds=5)  # real time at any speed
        assert objectives["generate"] == timedelta(seconds=600 / speed)  # 10 demo minutes
        assert format_bound(objectives["generate"]) == generate
        assert journey.secret_vars() == {"pw"} and not journey.availability
        assert browser.interval == timedelta(seconds=page_every)
        assert browser.locations == ["shanghai"] and not browser.availability
        assert [s.targets for s in cfg.slos if s.name == "page-load"] == [["web-page"]]


def test_without_browser_or_credentials_only_the_old_targets_remain(tmp_path: Path) -> None:
    cfg = demo_config(URL, 9108, tmp_path, 30)
    assert {t.kind for t in cfg.targets} == {"http", "upload", "freshness"}
    assert [s.targets for s in cfg.slos if s.name == "page-load"] == [["web-home"]]


def test_the_capacity_jobs_touch_the_platform_only(tmp_path: Path) -> None:
    cap = demo_config(URL, 9108, tmp_path, 1).capacity
    assert cap.allow_hosts == ["127.0.0.1:4321"] and not cap.kill_switch
    assert [(j.name, j.profile.users, j.schedule) for j in cap.jobs] == [
        ("within-capacity", 100, None), ("past-the-knee", 400, None)]
    assert all(j.targets == ["web-home", "api-health"] for j in cap.jobs)
