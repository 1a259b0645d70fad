"""``kind: browser`` in the configuration: every key parses to what the probe reads, and
a service's page objectives choose its browser targets (slaguard.policy)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slaguard.config import parse_config
from slaguard.config.browser import BrowserTarget
from slaguard.config.types import bound_inclusive
from slaguard.policy import from_config

EVERY_KEY: dict[str, Any] = {
    "name": "web-home-browser", "service": "core", "kind": "browser",
    "url": "https://bid.example.com/", "interval": "1m", "timeout": "30s",
    "headers": {"Accept-Language": "zh-CN"}, "tls": {"insecure_skip_verify": False},
    "connection": "cold", "max_body": "10MiB", "availability": False,
    "locations": ["shanghai"],
    "expect": {"status": [200], "selectors": ["#editor", "nav"], "text": "AI标书",
               "max_page_load": "< 3s", "no_console_errors": True},
    "viewport": {"width": 1366, "height": 768}, "settle": "1s",
    "block": ["**/analytics.js"], "relaunch_after": 200, "concurrency": 2,
    "artefacts": {"on_failure": True, "har": True, "keep": "30d"},
}


def config(*targets: dict[str, Any], slos: list[dict[str, Any]] | None = None) -> Any:
    cfg, _ = parse_config({"version": 1, "location": "shanghai", "locations": ["shanghai"],
                           "services": {"core": {"availability": "99.9%"},
                                        "api": {"availability": "99.9%"}},
                           "targets": list(targets), "slos": slos or []}, env={})
    return cfg


def test_every_key_parses() -> None:
    [t] = config(EVERY_KEY).targets
    assert isinstance(t, BrowserTarget)
    assert t.expect.max_page_load == timedelta(seconds=3)
    assert not bound_inclusive(t.expect.max_page_load)
    assert t.expect.selectors == ["#editor", "nav"] and t.expect.no_console_errors
    assert t.artefacts.keep == timedelta(days=30) and t.artefacts.har
    assert (t.viewport.width, t.viewport.height, t.settle) == (1366, 768, timedelta(seconds=1))
    assert (t.relaunch_after, t.concurrency, t.block) == (200, 2, ["**/analytics.js"])


def test_defaults() -> None:
    [t] = config({"name": "b", "service": "core", "kind": "browser",
                  "url": "http://x/"}).targets
    assert t.expect.status is None and t.expect.selectors == [] and t.expect.text is None
    assert not t.expect.no_console_errors and t.expect.max_page_load is None
    assert t.artefacts.on_failure and not t.artefacts.har
    assert (t.relaunch_after, t.concurrency, t.settle) == (200, 2, timedelta(seconds=1))


def _http(name: str, service: str) -> dict[str, Any]:
    return {"name": name, "service": service, "kind": "http", "url": "http://x/"}


def _browser(name: str, service: str) -> dict[str, Any]:
    return {"name": name, "service": service, "kind": "browser", "url": "http://x/"}


def test_a_services_page_objectives_evaluate_on_its_browser_targets() -> None:
    slos = [{"name": "page-load", "services": ["core", "api"],
             "latency": {"mean": "< 3s", "p95": "< 5s"}},
            {"name": "api-latency", "targets": ["api-health", "home-html"],
             "latency": {"mean": "< 500ms"}}]
    cfg = config(_http("home-html", "core"), _browser("home-browser", "core"),
                 _http("api-health", "api"), slos=slos)
    page, api = from_config(cfg).latency
    # core has a browser target: its page objective is the browser's; api has none:
    # all of its targets, as before.  Listed targets are taken as listed.
    assert page.targets == ("home-browser", "api-health")
    assert api.targets == ("api-health", "home-html")


def test_without_a_browser_target_nothing_changes() -> None:
    slos = [{"name": "page-load", "services": ["core"], "latency": {"mean": "< 3s"}}]
    cfg = config(_http("home-html", "core"), _http("search", "core"), slos=slos)
    assert from_config(cfg).latency[0].targets == ("home-html", "search")
