"""``kind: browser``: a real page load in Chromium (probes.browser).

The SLA figure of a browser check is the main navigation's
``PerformanceNavigationTiming.duration`` (from the navigation's start to the end
of its load event): what the standard's "page load < 3 s" means to a customer,
and what the browser itself reports (probes.browser says how it is read).

``concurrency`` and ``relaunch_after`` bound the one Chromium a probe worker
process keeps for all its browser targets; when targets disagree, the smallest
value wins (the most careful one), so adding a target can only make a worker
more careful, never less.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator

from slaguard.config.types import Bound, Duration, Strict, TargetBase, TLSOptions

# A check's wait after the load event for late web vitals (LCP and CLS settle after
# load); above 10 s it would be a second page load, not a settle.
MAX_SETTLE = timedelta(seconds=10)


def _status(codes: list[int] | None) -> list[int] | None:
    for code in codes or ():
        if not 100 <= code <= 599:
            raise ValueError(f"{code} is not an HTTP status (100-599)")
    return codes


class BrowserExpect(Strict):
    """What a check asserts; any miss is a failure of class ``assertion`` (``status``:
    ``http_status``).  ``max_page_load`` is a performance bound, not an assertion: a
    page that loads correctly but slower is a success with ``bound_exceeded_ms``."""

    # The main document's final status (after redirects); None: any 2xx or 3xx.
    status: Annotated[list[int] | None, Field(min_length=1)] = None
    # CSS selectors (Playwright's syntax) each present in the DOM after load.
    selectors: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list)
    # Text the rendered page (document.body.innerText) contains.
    text: Annotated[str, Field(min_length=1, max_length=10_000)] | None = None
    # "< 3s": a page load of exactly 3 s is over it (the standard's "<").
    max_page_load: Bound | None = None
    # Opt-in: a console error or an uncaught exception in the page fails the check.
    no_console_errors: bool = False

    _codes = field_validator("status")(_status)


class BrowserArtefacts(Strict):
    """Evidence kept for a failed check, keyed by the result's id (slaguard.evidence)."""

    # A viewport screenshot and a Playwright trace (screenshots, DOM snapshots,
    # network; cookies and Authorization scrubbed) of every failed check.
    on_failure: bool = True
    # Opt-in: a HAR of the failed check's requests (headers and timings, no bodies).
    har: bool = False
    # Evidence older than this is deleted.
    keep: Duration = timedelta(days=30)

    @field_validator("keep")
    @classmethod
    def _keep(cls, value: timedelta) -> timedelta:
        if value < timedelta(hours=1):
            raise ValueError("must be at least 1h (evidence must outlive the incident it "
                             "explains)")
        return value


class Viewport(Strict):
    width: Annotated[int, Field(ge=240, le=7680)] = 1366
    height: Annotated[int, Field(ge=240, le=4320)] = 768


class BrowserTarget(TargetBase):
    kind: Literal["browser"]
    expect: BrowserExpect = BrowserExpect()
    viewport: Viewport = Viewport()
    # How long after the load event LCP and CLS may still change before they are read.
    settle: Duration = timedelta(seconds=1)
    # Opt-in: block these URL globs (analytics, ads) so a third party's fault is not
    # the page's; the check's figures then leave them out.
    block: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    # The worker's Chromium is relaunched after this many checks (memory creep).
    relaunch_after: Annotated[int, Field(ge=1, le=100_000)] = 200
    # Checks at once in one worker process (each Chromium page needs up to ~1.5 GB).
    concurrency: Annotated[int, Field(ge=1, le=64)] = 2
    artefacts: BrowserArtefacts = BrowserArtefacts()
    # Every browser check is cold: a fresh context (no cache, cookies, service workers).
    connection: Literal["cold", "warm"] = "cold"

    @field_validator("settle")
    @classmethod
    def _settle(cls, value: timedelta) -> timedelta:
        if value > MAX_SETTLE:
            raise ValueError("must be at most 10s (web vitals settle within seconds of load)")
        return value

    @field_validator("connection")
    @classmethod
    def _cold(cls, value: str) -> str:
        if value != "cold":
            raise ValueError("a browser check always starts cold (a fresh browser context "
                             "per check); remove this key")
        return value

    @field_validator("tls")
    @classmethod
    def _tls(cls, value: TLSOptions) -> TLSOptions:
        if value.ca_file is not None or value.server_name is not None:
            raise ValueError("a browser check trusts the system's CA store; only "
                             "insecure_skip_verify applies to it")
        return value
