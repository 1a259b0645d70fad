"""The demo platform's home page: HTML, a stylesheet, a script and two images, so that a
real browser's page load has the shape of a real one.

The load event waits on a chain three requests deep: the HTML, then the stylesheet, the
logo and the script (in parallel), then the chart the script inserts.  A delay of ``h``
on the HTML and ``a`` on each asset therefore shows as roughly ``h + 2a`` in the
browser's page load, while a plain HTTP fetch of ``/`` sees only ``h``: that difference
is why slaguard has ``kind: browser``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

TITLE = "AI标书 智能创作平台"
NO_STORE = {"Cache-Control": "no-store"}  # every probe is a cold load, as a new visitor's


@dataclass(frozen=True)
class Asset:
    content_type: str
    body: bytes


def home_html() -> str:
    """The page: everything it needs comes from this platform (no third party), and an
    empty data: icon keeps Chromium from asking for ``/favicon.ico``."""
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/site.css">
</head>
<body>
<header><img src="/static/logo.svg" alt="AI标书" width="48" height="48"><h1>{TITLE}</h1></header>
<main>
<p class="lead">上传招标文件，十分钟内生成百页投标书 / Upload a tender, get a 100-page bid in
minutes.</p>
<figure id="chart"><figcaption>本月生成页数 / pages generated this month</figcaption></figure>
<p id="ready" role="status">加载中 / loading</p>
</main>
<script src="/static/app.js"></script>
</body>
</html>
"""


CSS = """body { font-family: "Noto Sans CJK SC", sans-serif; margin: 0; color: #1d2733; }
header { display: flex; align-items: center; gap: 12px; padding: 16px 24px;
         background: #0b5cad; color: #fff; }
header h1 { font-size: 22px; margin: 0; }
main { padding: 24px; max-width: 760px; }
.lead { font-size: 18px; }
figure { margin: 24px 0; }
figure img { display: block; border: 1px solid #c8d3df; }
#ready { color: #3a7d2c; }
"""

# Inserted by the script while the page is still loading, so the load event waits for it.
JS = """(function () {
  var img = new Image(240, 120);
  img.alt = "pages generated per day";
  img.src = "/static/chart.png";
  document.getElementById("chart").appendChild(img);
  document.getElementById("ready").textContent = "已就绪 / ready";
})();
"""

LOGO_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 48 48">
<rect width="48" height="48" rx="8" fill="#fff"/>
<path d="M12 10h18l8 8v20H12z" fill="#0b5cad"/>
<path d="M30 10v8h8" fill="#7fb2e5"/>
<text x="24" y="34" font-size="11" text-anchor="middle" fill="#fff"
      font-family="sans-serif">AI</text>
</svg>
"""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def chart_png(width: int = 240, height: int = 120) -> bytes:
    """A bar chart as an RGB PNG (stdlib only): a real image the browser must decode."""
    bars = [30, 55, 42, 70, 90, 64, 100, 85, 76, 95, 60, 110]
    bar_w = width // len(bars)
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type 0 for each scanline
        for x in range(width):
            top = height - bars[x // bar_w]
            inside = y >= top and x % bar_w < bar_w - 4
            rows += bytes((11, 92, 173)) if inside else bytes((244, 247, 250))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + _chunk(b"IEND", b""))


def assets() -> dict[str, Asset]:
    """Everything under ``/static/`` by file name, built once per platform."""
    return {
        "site.css": Asset("text/css", CSS.encode()),
        "app.js": Asset("application/javascript", JS.encode()),
        "logo.svg": Asset("image/svg+xml", LOGO_SVG.encode()),
        "chart.png": Asset("image/png", chart_png()),
    }
