"""The support-desk panels' queries, run against a real Prometheus scraping the support
collector over a real record (faster and narrower than test_dashboard_queries, which
runs every panel against the whole demo)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from compensation.support import Known, SupportDesk, SupportStore, import_support
from exporters.support_metrics import SupportCollector
from grafana.build import DEFAULT_DIR, load, queries
from slaguard.config import parse_config
from slo.calendar import make_calendar
from slo.periods import month_containing, rfc3339
from tests.conftest import api_config, require_binary, serve_local
from tests.grafana.test_dashboard_queries import BUILTINS, run, substitute
from tests.integration.servers import prometheus


def _seed(store: SupportStore, tmp: Path, tz: str, now_ms: int) -> None:
    """Two chats of this month for acme: answered in 10 s (met) and 45 s (missed)."""
    opened = max(now_ms - 60_000, month_containing(now_ms, tz).start_ms)
    lines = [{"id": f"C-{n}", "channel": "chat", "customer": "acme",
              "opened": rfc3339(opened, tz), "answered": rfc3339(opened + wait, tz)}
             for n, wait in ((1, 10_000), (2, 45_000))]
    src = tmp / "support.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    import_support(store, src, Known({"acme"}))


async def test_every_support_panel_query_returns_data(tmp_path: Path) -> None:
    require_binary("prometheus")
    cfg = parse_config(api_config(tmp_path, "staff-token"), env={})[0]
    store = SupportStore(cfg.storage.path)
    now = lambda: time.time_ns() // 1_000_000  # noqa: E731 - the scrape's clock
    _seed(store, tmp_path, cfg.timezone, now())
    registry = CollectorRegistry(auto_describe=True)
    registry.register(SupportCollector(SupportDesk.from_config(cfg, store,
                                                               make_calendar("CN")), now))

    async def metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner, port = await serve_local(app)
    (sla,) = [d for d in load(DEFAULT_DIR) if d["uid"] == "slaguard-sla"]
    support = [(title, t) for title, t in queries(sla) if "slaguard_support" in t["expr"]]
    assert len(support) == 6  # the table's five columns and the customers' bar gauge
    every = {v["name"]: ".*" for v in sla["templating"]["list"] if v["type"] == "query"}
    problems: list[str] = []
    with contextlib.ExitStack() as stack:
        try:
            prom = await asyncio.to_thread(
                stack.enter_context, prometheus(tmp_path, [f"127.0.0.1:{port}"]))
            deadline = time.monotonic() + 30  # target discovery, then a 1 s scrape
            while not (await asyncio.to_thread(run, prom, "slaguard_support_checks", True)
                       ).nonempty and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            for title, target in support:
                outcome = await asyncio.to_thread(
                    run, prom, substitute(target["expr"], {**BUILTINS, **every}),
                    target["instant"])
                problems += [f"{title} {target['refId']}: {e}" for e in outcome.errors]
                if not outcome.nonempty:
                    problems.append(f"{title} {target['refId']}: no data\n  {target['expr']}")
        finally:
            await asyncio.to_thread(stack.close)
            await runner.cleanup()
            store.close()
    assert not problems, "\n".join(problems)
