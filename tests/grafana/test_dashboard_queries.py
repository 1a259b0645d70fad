"""Every panel query of every dashboard, run against a real Prometheus scraping slaguard.

Grafana cannot run here, so this is the check that the dashboards work: slaguard
probes the demo's simulated platform (scripted outage, regional fault, latency
spike, slow upload; 30× speed) from three locations, plus one HTTPS target for
the certificate panel; a real Prometheus scrapes it every second; after ~12 s
of data every target expression of every panel is executed

* with each template variable at "All" (the dashboards' default), and
* with the variables set to every combination of real values that the
  variables' own ``label_values(...)`` queries return from that Prometheus,

and must parse each time and return data for "All" and for at least one real
combination (a panel about backups shows nothing for service=core, as in
Grafana).  No exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from capacity.store import CapacityStore
from compensation.support import Known, SupportStore, import_support
from demo.config import demo_config
from demo.platform import CYCLE_S, LOCATIONS, start_platform
from exporters.scrape_config import scrape_job
from grafana.build import DEFAULT_DIR, load, queries
from slaguard.app import App
from slaguard.config.schema import SLO, HttpTarget
from slo.periods import month_containing, rfc3339
from tests.conftest import free_port, require_binary
from tests.integration.servers import Prometheus, prometheus

SPEED = 30  # the demo's 420 s fault cycle in 14 s; every probe runs each second
GATHER_S = 12.0
# What Grafana would put in for a 1 s scrape interval and a recent time range.
BUILTINS = {"__rate_interval": "10s", "__interval": "1s", "__range": "15m"}
RANGE_S, STEP_S = 30, 2
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>\w+)\)$")
RE2_SPECIAL = re.compile(r"[\\.+*?()|\[\]{}^$]")
VARIABLE = re.compile(r"\$\{?(\w+)\}?")


# -- slaguard, its targets and Prometheus --------------------------------------------


async def tls_site(runner: web.AppRunner, tmp: Path) -> tuple[int, Path]:
    """Serve the platform over HTTPS too (a trustme chain), for probe_ssl_earliest_cert_expiry."""
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    return port, ca_file


def bound(cfg: Any, app: App) -> Any:
    """``cfg`` with server.listen where ``app`` is listening (it was given port 0)."""
    assert app.url is not None
    return cfg.model_copy(update={"server": cfg.server.model_copy(update={
        "listen": app.url.removeprefix("http://")})})


def with_tls_target(cfg: Any, port: int, ca_file: Path) -> Any:
    target = HttpTarget.model_validate({
        "name": "web-home-tls", "service": "core", "kind": "http",
        "url": f"https://127.0.0.1:{port}/", "interval": "1s", "timeout": "800ms",
        "tls": {"ca_file": str(ca_file)}, "expect": {"body_contains": "AI标书"}})
    return cfg.model_copy(update={"targets": [*cfg.targets, target]})


def seed_support(cfg: Any, tmp: Path) -> None:
    """Two support chats of this month (one met, one missed) for the demo's customer, so the
    support panels have a customer to show (the demo itself has no support desk)."""
    now = int(time.time() * 1000)
    opened = max(now - 60_000, month_containing(now, cfg.timezone).start_ms)
    customer = cfg.customers[0].id
    lines = [{"id": f"CHAT-{n}", "channel": "chat", "customer": customer,
              "opened": rfc3339(opened, cfg.timezone),
              "answered": rfc3339(opened + wait_ms, cfg.timezone)}
             for n, wait_ms in ((1, 10_000), (2, 45_000))]
    src = tmp / "support.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    store = SupportStore(cfg.storage.path)
    try:
        import_support(store, src, Known({customer}))
    finally:
        store.close()


def seed_capacity(cfg: Any) -> None:
    """One finished capacity run (the demo runs none by itself: a load test is run on
    purpose), with a p95 threshold, so the capacity row has a job and an endpoint."""
    now = int(time.time() * 1000)
    store = CapacityStore(cfg.storage.path)
    try:
        run = store.start("release", now - 60_000, {"job": "release", "start_ms": now - 60_000})
        store.finish({"id": run, "job": "release", "start_ms": now - 60_000, "end_ms": now,
                      "verdict": "passed", "peak_users": 200,
                      "total": {"name": "Aggregated", "count": 1000, "failures": 2},
                      "endpoints": [{"name": "bid/login", "count": 1000, "failures": 2,
                                     "mean_ms": 40, "p95_ms": 120}],
                      "thresholds": [{"endpoint": "bid/login", "metric": "p95",
                                      "expr": "bid/login p95 < 500 ms", "observed": 120,
                                      "pass": True}]})
    finally:
        store.close()


# -- running the queries ------------------------------------------------------------------


def api(prom: Prometheus, path: str, **params: Any) -> dict[str, Any]:
    """The API's JSON answer, errors included (a bad query is a 400 with a JSON body)."""
    url = f"{prom.url}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        doc = json.loads(e.read())
    assert isinstance(doc, dict)
    return doc


def substitute(text: str, values: Mapping[str, str]) -> str:
    out = VARIABLE.sub(lambda mt: values.get(mt.group(1), mt.group(0)), text)
    assert "$" not in out, f"unresolved variable in {out!r}"
    return out


def label_values(prom: Prometheus, query: str, values: Mapping[str, str]) -> list[str]:
    """What Grafana's ``label_values(selector, label)`` returns, via the series API."""
    match = LABEL_VALUES.match(query)
    assert match, f"not a label_values(selector, label) query: {query}"
    now = time.time()
    doc = api(prom, "series", **{"match[]": substitute(match["selector"], values),
                                 "start": now - 300, "end": now})
    return sorted({s[match["label"]] for s in doc["data"] if match["label"] in s})


def regex_literal(value: str) -> str:
    """A value as Grafana puts it into ``=~"..."``: RE2 metacharacters escaped, with the
    backslash doubled for the PromQL string (Python's re.escape would escape "-" too,
    which PromQL rejects)."""
    return RE2_SPECIAL.sub(lambda mt: "\\\\" + mt.group(0), value)


def combinations(prom: Prometheus, variables: list[tuple[str, str]],
                 fixed: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Every assignment of real values, resolving chained variables in order."""
    if not variables:
        yield dict(fixed)
        return
    (name, query), rest = variables[0], variables[1:]
    found = label_values(prom, query, fixed)
    assert found, f"variable {name}: {query} returned no values"
    for value in found:
        yield from combinations(prom, rest, {**fixed, name: regex_literal(value)})


@dataclass
class Outcome:
    errors: list[str]
    nonempty: bool


def run(prom: Prometheus, expr: str, instant: bool) -> Outcome:
    now = time.time()
    if instant:
        doc = api(prom, "query", query=expr, time=now)
    else:
        doc = api(prom, "query_range", query=expr, start=now - RANGE_S, end=now, step=STEP_S)
    if doc.get("status") != "success":
        return Outcome([f"{doc.get('errorType')}: {doc.get('error')}"], False)
    return Outcome([], bool(doc["data"]["result"]))


def check_dashboard(prom: Prometheus, dash: dict[str, Any]) -> list[str]:
    variables = [(v["name"], v["query"]) for v in dash["templating"]["list"]
                 if v["type"] == "query"]
    every = {name: ".*" for name, _ in variables}  # each variable's allValue
    combos = list(combinations(prom, variables, BUILTINS))
    problems = []
    for title, target in queries(dash):
        where = f"{dash['title']} / {title} / {target['refId']}"
        outcomes = [run(prom, substitute(target["expr"], {**BUILTINS, **values}),
                        target["instant"]) for values in [every, *combos]]
        problems += [f"{where}: {e}" for o in outcomes for e in o.errors]
        all_data, any_data = outcomes[0].nonempty, any(o.nonempty for o in outcomes[1:])
        if not (all_data and any_data):
            problems.append(f"{where}: no data (All: {all_data}, some real value: {any_data})"
                            f"\n    {target['expr']}")
    return problems


# -- the test -----------------------------------------------------------------------------


async def test_every_panel_query_parses_and_returns_data(tmp_path: Path) -> None:
    require_binary("prometheus")
    dashboards = load(DEFAULT_DIR)
    assert len(dashboards) == 4
    platform, runner, url = await start_platform(SPEED)
    tls_port, ca_file = await tls_site(runner, tmp_path)
    # Port 0: the bound one comes from App.url (a free_port() could be taken by the demo's
    # own probe connections before slaguard binds it).
    cfg = with_tls_target(demo_config(url, 0, tmp_path / "data", SPEED), tls_port, ca_file)
    # The incident clocks are the test's (it acknowledges and restores by hand): the demo's
    # short ones would let the next cycle's outage re-open a restored incident, so MTTR
    # could have no data at the moment Prometheus is asked.
    cfg = cfg.model_copy(update={"incidents": cfg.incidents.model_copy(update={
        "restore_after": timedelta(hours=1), "auto_resolve_after": timedelta(hours=1)})})
    # /metrics is not public: Prometheus scrapes it as `slaguard rules` configures it.
    cfg = cfg.model_copy(update={"server": cfg.server.model_copy(update={
        "metrics_token": "dashboard-scrape-token"})})
    # The rolling-window row reads a windowed objective with a burn alert.
    cfg = cfg.model_copy(update={"slos": [*cfg.slos, SLO.model_validate({
        "name": "core-1h", "services": ["core"], "objective": {
            "sli": "availability", "target": "99%", "window": "1h",
            "burn_alerts": [{"name": "fast", "severity": "page", "threshold": 14.4,
                             "lookback": "5m"}]}})]})
    (tmp_path / "data").mkdir()
    seed_support(cfg, tmp_path)
    seed_capacity(cfg)
    app = App(cfg, locations=list(LOCATIONS), source_addresses=LOCATIONS)
    await app.start()
    with contextlib.ExitStack() as stack:
        try:
            # Starting Prometheus blocks; off the loop, so the probes keep their timing.
            prom = await asyncio.to_thread(
                stack.enter_context, prometheus(tmp_path, [], jobs=scrape_job(bound(cfg, app))[
                    "scrape_configs"]))
            # Evaluate during the scripted outage (cycle 60–150 s, confirmed by 120 s):
            # the rules open a P1 and on-call acknowledges it, then marks it restored
            # after the outage (the rules would wait out their flap damping): so MTTA
            # and MTTR have data too.
            while not 120 <= platform.t() % CYCLE_S < 145:
                await asyncio.sleep(0.05)
            await app.evaluate_now()
            for incident in app.alerting.store.recent_incidents(10):
                app.alerting.incidents.acknowledge(incident.id, "test on-call")
            await asyncio.sleep(GATHER_S - 4)
            for incident in app.alerting.store.recent_incidents(10):
                app.alerting.incidents.restore(incident.id, "test on-call")
            # The SLO gauges are evaluated once a minute: refresh them after the outage.
            await app.evaluate_now()
            await asyncio.sleep(2.5)
            problems = await asyncio.to_thread(
                lambda: list(itertools.chain.from_iterable(
                    check_dashboard(prom, d) for d in dashboards)))
        finally:
            await asyncio.to_thread(stack.close)
            await app.stop()
            await runner.cleanup()
    assert not problems, "\n".join(problems)
    assert platform.t() > GATHER_S * SPEED * 0.9  # the fault script did run
