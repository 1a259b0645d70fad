"""Headless Debian Chromium through Playwright's async API, for the page tests: the launch,
an app served on a loopback port inside the test's own event loop, and the checks every
page gets (no horizontal overflow at a phone's width, text contrast of controls)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import REQUIRE_INTEGRATION, require_binary, serve_local

# Quiet and offline: no network of its own, no first-run work.  Playwright gives every
# launch a fresh temporary profile.
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1100, "height": 900}


def chromium() -> str:
    path = require_binary("chromium")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        if REQUIRE_INTEGRATION:
            pytest.fail("SLAGUARD_REQUIRE_INTEGRATION=1 but the playwright package is missing")
        pytest.skip("the playwright Python package is not installed")
    return path


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    runner, port = await serve_local(app)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    exe = chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=exe, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def new_page(b: Any, viewport: dict[str, int] = DESKTOP) -> Any:
    context = await b.new_context(timezone_id="Asia/Shanghai", locale="zh-CN",
                                  viewport=viewport, accept_downloads=True)
    return await context.new_page()


async def assert_no_horizontal_overflow(page: Any) -> None:
    """Nothing wider than the viewport: the page never scrolls sideways."""
    widths = await page.evaluate("""() => ({
        doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,
        view: document.documentElement.clientWidth,
        wide: Array.from(document.querySelectorAll('body *'))
          .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
          .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' +
                           Math.round(e.getBoundingClientRect().right)),
        scrolling: Array.from(document.querySelectorAll('*'))
          .filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0)
          .slice(0, 15).map(e => e.tagName + '.' + e.className + ' ' + e.scrollWidth)})""")
    assert widths["doc"] <= widths["view"] and widths["body"] <= widths["view"], widths


# WCAG 2.x relative luminance and contrast, computed in the page from the used colours:
# the text's own colour against the first opaque background behind it.
CONTRAST_JS = """(selector) => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lin = c => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  };
  const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) { return c.slice(0, 3); }
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const control of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(control, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.textContent.trim()) { continue; }
      const el = n.parentElement;
      const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(background(el));
      out.push({text: n.textContent.trim(),
                ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)});
    }
  }
  return out;
}"""


async def contrast(page: Any, selector: str) -> list[dict[str, Any]]:
    """Every text run inside the elements ``selector`` matches, with its contrast ratio."""
    found: list[dict[str, Any]] = await page.evaluate(CONTRAST_JS, selector)
    return found


async def assert_readable(page: Any, selector: str, minimum: float = 4.5) -> None:
    runs = await contrast(page, selector)
    assert runs, f"no text in {selector}"
    low = [r for r in runs if r["ratio"] < minimum]
    assert not low, low
