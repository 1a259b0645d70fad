"""``kind: browser``: one page load in real Chromium, as a customer lives it.

The SLA figure (``duration_ms``, what the "page load < 3 s" objectives judge) is
the main navigation's ``PerformanceNavigationTiming.duration``: from the start of
the navigation to the end of its load event, as the browser itself measured it
(``performance.getEntriesByType('navigation')[0].duration``).  It is read in the
page, so neither the browser's launch, the context's set-up nor Playwright's
round trips are in it; ``duration_us`` keeps its sub-millisecond part for
``probe_duration_seconds``.

``vitals`` (integers) record, from the same navigation and buffered
PerformanceObservers installed before the page runs (``add_init_script``), read
after the load event plus ``settle`` (LCP and CLS finalise late):

``page_load`` (= duration), ``ttfb`` (responseStart), ``dcl``
(domContentLoadedEventEnd), ``load`` (loadEventStart, browsertime's
pageLoadTime), ``fcp``, ``lcp`` (ms from the navigation's start; absent when the
page painted none), ``cls`` (cumulative layout shift × 1000, web-vitals' session
windows), ``bytes`` (transferSize of the document and every resource the page may
time: a cross-origin resource without ``Timing-Allow-Origin`` counts 0),
``requests`` and ``failed_requests`` (network errors and 4xx/5xx answers).

Each check gets a fresh context (``service_workers="block"``: no cache, no
cookies, no service worker from a previous check) on the process's one browser
(probes._browser_pool), closed in ``finally`` whatever happens.  The check's
deadline is min(timeout, 0.8 × interval), enforced by ``asyncio.wait_for``; a
check that fails before its load event records how long its visit lasted.  With an
evidence store, every check is traced (DOM snapshots and network, not the
screencast, which slowed the very load being measured) and the trace is kept only
on failure, with a screenshot and an optional HAR (slaguard.evidence), taken after
the deadline within at most 5 s.

It never raises for the target: a target's fault is a failure (timeout,
http_status, assertion, connect, dns, tls), a browser that cannot launch or dies
mid-check is ``probe_error`` (outcome unknown, never downtime).

``ctx.options`` keys read here: ``browser_pool`` (probes._browser_pool),
``chromium`` (the executable), ``evidence`` (a ``slaguard.evidence.EvidenceStore``;
without it nothing is kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from probes._browser_pool import BrowserPool, BrowserUnavailable, close_browser, pool_of
from probes.base import ProbeContext
from slaguard.config.browser import BrowserTarget
from slaguard.domain import ErrorClass, ProbeError, ProbeResult, result_id
from slaguard.evidence import (
    SECRET_HEADERS,
    EvidenceStore,
    meta,
    scrub_har,
    scrub_trace,
)

# DOM snapshots, not the screencast: streaming frames during the load slows the very
# navigation being measured (the failure's own screenshot is taken separately).
_TRACE_OPTS: dict[str, bool] = {"snapshots": True}
EVIDENCE_BUDGET_S = 5.0  # at most this long after the deadline for screenshot and trace
_MS = timedelta(milliseconds=1)

# Installed before any of the page's scripts: buffered observers see entries from
# before they were created, so nothing painted early is missed.
VITALS_JS = """(() => {
  if (window.__slaguard) { return; }
  const v = {fcp: null, lcp: null, cls: 0};
  Object.defineProperty(window, '__slaguard', {value: v});
  const watch = (type, fn) => {
    try { new PerformanceObserver(l => l.getEntries().forEach(fn))
            .observe({type, buffered: true}); } catch (e) {}
  };
  watch('paint', e => { if (e.name === 'first-contentful-paint') { v.fcp = e.startTime; } });
  watch('largest-contentful-paint', e => { v.lcp = e.renderTime || e.loadTime || e.startTime; });
  let session = 0, first = 0, last = 0;
  watch('layout-shift', e => {
    if (e.hadRecentInput) { return; }
    if (session && e.startTime - last < 1000 && e.startTime - first < 5000) {
      session += e.value;
    } else { session = e.value; first = e.startTime; }
    last = e.startTime;
    v.cls = Math.max(v.cls, session);
  });
})()"""

READ_JS = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  if (!n || !n.loadEventEnd) { return null; }
  const v = window.__slaguard || {};
  let bytes = n.transferSize || 0;
  for (const r of performance.getEntriesByType('resource')) { bytes += r.transferSize || 0; }
  return {duration: n.duration, ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd,
          load: n.loadEventStart, fcp: v.fcp, lcp: v.lcp, cls: v.cls || 0, bytes};
}"""


__all__ = ["BrowserPool", "close_browser", "deadline_s", "run", "warm"]


class CheckFailed(Exception):
    def __init__(self, cls: ErrorClass, message: str) -> None:
        super().__init__(message)
        self.error = ProbeError(cls, message)


@dataclass
class _Seen:
    """What the page did, filled in as it goes, so a failure keeps it."""

    status: int | None = None
    figures: dict[str, Any] | None = None
    requests: int = 0
    failed: int = 0
    console_errors: list[str] = field(default_factory=list)
    url: str = ""
    visit_ns: int = 0  # how long the visit took (loaded, failed or cut at the deadline)


def deadline_s(target: BrowserTarget) -> float:
    """The check's deadline: its timeout, but never more than 0.8 × its interval (a
    check must end before the next one is due)."""
    return min(target.timeout, target.interval * 0.8) / timedelta(seconds=1)


async def run(target: BrowserTarget, ctx: ProbeContext) -> ProbeResult:
    ts_ms = ctx.now_ms()
    seen = _Seen()
    try:
        async with pool_of(ctx).lease(target.concurrency, target.relaunch_after) as browser:
            error = await _check(browser, target, ctx, result_id(target.name, ctx.location,
                                                                  ts_ms), seen)
    except BrowserUnavailable as exc:
        error = ProbeError(ErrorClass.PROBE_ERROR, str(exc))
    return _result(target, ctx, ts_ms, seen, error)


WARM_UP_PAGE = "data:text/html,<title>warm-up</title><p>slaguard</p>"


async def warm(targets: Iterable[Any], ctx: ProbeContext) -> None:
    """Before any check's clock starts (probes.warmup): launch the browser and load one
    practice page from memory in a context of its own (the first renderer, Playwright's
    first injected scripts), nothing sent to any target.  Never raises: a browser that
    cannot start is reported by the checks themselves."""
    browsers = [t for t in targets if isinstance(t, BrowserTarget)]
    if not browsers:
        return
    with contextlib.suppress(Exception):
        pool = pool_of(ctx)
        await pool.warm()
        async with pool.lease(browsers[0].concurrency, 1_000_000) as browser:
            context = await browser.new_context(service_workers="block")
            try:
                await context.add_init_script(script=VITALS_JS)
                page = await context.new_page()
                await page.goto(WARM_UP_PAGE, wait_until="load", timeout=10_000)
                await page.evaluate(READ_JS)
            finally:
                await _close(context)


async def _check(browser: Any, target: BrowserTarget, ctx: ProbeContext, rid: str,
                 seen: _Seen) -> ProbeError | None:
    art = target.artefacts
    store: EvidenceStore | None = ctx.options.get("evidence") if art.on_failure else None
    workdir = Path(tempfile.mkdtemp(prefix="slaguard-browser-")) if store else None
    context = None
    try:
        context = await _new_context(browser, target, workdir)
        if workdir is not None:
            await context.tracing.start(**_TRACE_OPTS)
        page = await context.new_page()
        _listen(page, seen)
        error = await _visit_within_deadline(page, target, seen)
        if error is not None and not browser.is_connected():
            error = ProbeError(ErrorClass.PROBE_ERROR, f"Chromium died during the check "
                               f"({error.message})")
        if error is not None and store is not None and workdir is not None:
            await _evidence(context, page, workdir)
        await _close(context)
        context = None
        if error is not None and store is not None and workdir is not None:
            _keep(store, target, ctx, rid, workdir, error, seen)
        return error
    except BrowserUnavailable as exc:
        return ProbeError(ErrorClass.PROBE_ERROR, str(exc))
    except Exception as exc:  # Playwright itself failed (browser gone): not the target
        return ProbeError(ErrorClass.PROBE_ERROR, _first_line(exc))
    finally:
        if context is not None:
            await _close(context)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


async def _new_context(browser: Any, target: BrowserTarget, workdir: Path | None) -> Any:
    har = {}
    if workdir is not None and target.artefacts.har:
        har = {"record_har_path": str(workdir / "page.har"), "record_har_content": "omit"}
    context = await browser.new_context(
        service_workers="block", viewport=target.viewport.model_dump(),
        ignore_https_errors=target.tls.insecure_skip_verify,
        extra_http_headers=dict(target.headers) or None, **har)
    await context.add_init_script(script=VITALS_JS)
    for pattern in target.block:
        await context.route(pattern, lambda route: route.abort("blockedbyclient"))
    return context


def _listen(page: Any, seen: _Seen) -> None:
    def on_response(response: Any) -> None:
        if response.status >= 400:
            seen.failed += 1

    def on_console(message: Any) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text[:500])

    def on_request(_request: Any) -> None:
        seen.requests += 1

    def on_failed(request: Any) -> None:
        if "ERR_BLOCKED_BY_CLIENT" not in (request.failure or ""):  # ``block``: on purpose
            seen.failed += 1

    page.on("request", on_request)
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: seen.console_errors.append(f"uncaught: {exc}"[:500]))


async def _visit_within_deadline(page: Any, target: BrowserTarget,
                                 seen: _Seen) -> ProbeError | None:
    limit = deadline_s(target)
    started = time.perf_counter_ns()
    try:
        await asyncio.wait_for(_visit(page, target, seen), limit)
    except TimeoutError:
        return ProbeError(ErrorClass.TIMEOUT, f"page not loaded within {limit:g} s")
    except CheckFailed as exc:
        return exc.error
    finally:
        seen.visit_ns = time.perf_counter_ns() - started
    return _assertions_after(target, seen)


async def _visit(page: Any, target: BrowserTarget, seen: _Seen) -> None:
    from playwright.async_api import Error as PlaywrightError

    try:
        # Playwright's own timeout is off: asyncio.wait_for is the one deadline.
        response = await page.goto(target.url, wait_until="load", timeout=0)
    except PlaywrightError as exc:
        raise CheckFailed(*_classify(exc)) from None
    seen.url = page.url
    if response is None:
        raise CheckFailed(ErrorClass.ASSERTION, "no document was loaded")
    seen.status = response.status
    _check_status(target, response.status)
    seen.figures = await _figures(page, target.settle / timedelta(seconds=1))
    for selector in target.expect.selectors:
        if await page.locator(selector).count() == 0:
            raise CheckFailed(ErrorClass.ASSERTION, f"selector {selector!r} not found")
    if target.expect.text is not None:
        body = await page.evaluate("() => document.body ? document.body.innerText : ''")
        if target.expect.text not in body:
            raise CheckFailed(ErrorClass.ASSERTION, f"text {target.expect.text!r} not on the page")


def _check_status(target: BrowserTarget, status: int) -> None:
    wanted = target.expect.status
    ok = status in wanted if wanted else 200 <= status < 400
    if not ok:
        expected = ", ".join(map(str, wanted)) if wanted else "2xx or 3xx"
        raise CheckFailed(ErrorClass.HTTP_STATUS, f"status {status}, expected {expected}")


async def _figures(page: Any, settle_s: float) -> dict[str, Any]:
    """The navigation's figures once its load event has ended, after ``settle_s``."""
    await asyncio.sleep(settle_s)
    while True:  # loadEventEnd is set once the load handlers return
        figures: dict[str, Any] | None = await page.evaluate(READ_JS)
        if figures is not None:
            return figures
        await asyncio.sleep(0.01)


def _assertions_after(target: BrowserTarget, seen: _Seen) -> ProbeError | None:
    if target.expect.no_console_errors and seen.console_errors:
        more = len(seen.console_errors) - 1
        return ProbeError(ErrorClass.ASSERTION, f"console error: {seen.console_errors[0]}"
                          + (f" (and {more} more)" if more else ""))
    return None


def _classify(exc: Exception) -> tuple[ErrorClass, str]:
    text = _first_line(exc)
    if "ERR_NAME_NOT_RESOLVED" in text or "ERR_NAME_RESOLUTION" in text:
        return ErrorClass.DNS, text
    if "ERR_CERT" in text or "ERR_SSL" in text:
        return ErrorClass.TLS, text
    if "ERR_TIMED_OUT" in text or "Timeout" in text:
        return ErrorClass.TIMEOUT, text
    if "net::" in text:
        return ErrorClass.CONNECT, text
    if "Target" in text and "closed" in text:  # the browser went away under us
        return ErrorClass.PROBE_ERROR, text
    return ErrorClass.CONNECT, text


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:1000]


# -- evidence -------------------------------------------------------------------------


async def _evidence(context: Any, page: Any, workdir: Path) -> None:
    """Screenshot and trace of a failed check, bounded in time (a hung page must not
    hold the worker)."""
    async def take() -> None:
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(workdir / "screenshot.png"), timeout=3000)
        with contextlib.suppress(Exception):
            await context.tracing.stop(path=str(workdir / "trace.zip"))

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(take(), EVIDENCE_BUDGET_S)


def _keep(store: EvidenceStore, target: BrowserTarget, ctx: ProbeContext, rid: str,
          workdir: Path, error: ProbeError, seen: _Seen) -> None:
    secrets = [v for k, v in target.headers.items() if k.lower() in SECRET_HEADERS]
    files: dict[str, bytes] = {}
    if (workdir / "screenshot.png").is_file():
        files["screenshot.png"] = (workdir / "screenshot.png").read_bytes()
    if (workdir / "trace.zip").is_file():
        files["trace.zip"] = scrub_trace((workdir / "trace.zip").read_bytes(), secrets)
    if (workdir / "page.har").is_file():
        files["page.har"] = scrub_har((workdir / "page.har").read_bytes(), secrets)
    files["meta.json"] = meta(rid, {
        "target": target.name, "url": target.url, "final_url": seen.url,
        "status": seen.status, "error": {"class": error.cls.value, "message": error.message},
        "console_errors": seen.console_errors[:20]})
    try:
        store.save(rid, files)
        now = ctx.now_ms()
        if store.purge_due(target.name, now):
            store.purge(target.name, target.artefacts.keep // _MS, now)
    except OSError:  # a full disk loses the evidence, never the result
        pass


async def _close(context: Any) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(context.close(), 10.0)


# -- the result -----------------------------------------------------------------------


def _vitals(seen: _Seen) -> dict[str, int]:
    out: dict[str, int] = {"requests": seen.requests, "failed_requests": seen.failed}
    f = seen.figures
    if f is None:
        return out
    for key in ("ttfb", "dcl", "load", "fcp", "lcp"):
        if f.get(key) is not None:
            out[key] = round(f[key])
    out["page_load"] = round(f["duration"])
    out["cls"] = round(f.get("cls", 0) * 1000)
    out["bytes"] = int(f.get("bytes") or 0)
    return out


def _result(target: BrowserTarget, ctx: ProbeContext, ts_ms: int, seen: _Seen,
            error: ProbeError | None) -> ProbeResult:
    from probes.errors import outcome_of

    vitals = _vitals(seen)
    if seen.figures is not None:
        duration_us = round(seen.figures["duration"] * 1000)
    else:  # no load event: the time the visit took, up to its deadline (not the evidence)
        duration_us = seen.visit_ns // 1000
    duration_ms = duration_us // 1000
    return ProbeResult(
        ts_ms=ts_ms, target=target.name, service=target.service, location=ctx.location,
        kind="browser", outcome=outcome_of(error), duration_ms=duration_ms,
        status_code=seen.status, bytes=vitals.get("bytes"), error=error,
        duration_us=duration_us, vitals=vitals,
        bound_exceeded_ms=_exceeded(target, duration_ms) if error is None else None)


def _exceeded(target: BrowserTarget, duration_ms: int) -> int | None:
    bound = target.expect.max_page_load
    if bound is None:
        return None
    # Like every kind's max_duration (probes._common): only a page load above the bound
    # is flagged here; the latency objectives judge "exactly at it" by their own bounds.
    limit = bound // _MS
    return limit if duration_ms > limit else None
