"""A capacity job over a journey: each simulated user logs in, starts a job, polls it
until done, downloads the result and cleans up, against a real local fake platform;
every step is an endpoint ``bid/<step>`` whose count agrees with the platform's own
count of that request, and no secret (a secret var, a secret extract) reaches the
record or the logs."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

import capacity.runner as runner_module
from capacity.locustfile import plan_for, render
from capacity.runner import CapacityRunner, Settings
from capacity.store import CapacityStore
from slaguard.config import parse_config
from tests.capacity.conftest import capacity_config
from tests.conftest import serve_local

PASSWORD = "pa55-word-secret"
DONE_AFTER_POLLS = 2  # a job is done at its third poll


@dataclass
class Platform:
    """Log in (a secret token), start a job, poll it, download it, delete it; each
    request counted by its route, each bad token refused."""
    url: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    polls: Counter[str] = field(default_factory=Counter)
    tokens: set[str] = field(default_factory=set)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def authorised(self, request: web.Request) -> None:
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            raise web.HTTPUnauthorized()

    async def login(self, request: web.Request) -> web.Response:
        self.counts["login"] += 1
        body = await request.json()
        if body.get("password") != PASSWORD:
            raise web.HTTPForbidden()
        token = f"tok-{next(self.ids)}-{body['user']}-secret"
        self.tokens.add(token)
        return web.json_response({"token": token})

    async def start(self, request: web.Request) -> web.Response:
        self.counts["start"] += 1
        self.authorised(request)
        job = str(next(self.ids))
        return web.json_response({"id": job, "mirror": self.url.replace("127.0.0.1", "localhost")
                                  + "/api/mirror"}, status=201,
                                 headers={"Location": f"/jobs/{job}"})

    async def mirror(self, request: web.Request) -> web.Response:
        self.counts["mirror"] += 1
        return web.Response(text="never asked: localhost is not in allow_hosts")

    async def poll(self, request: web.Request) -> web.Response:
        self.counts["poll"] += 1
        self.authorised(request)
        job = request.match_info["job"]
        self.polls[job] += 1
        state = "done" if self.polls[job] > DONE_AFTER_POLLS else "running"
        return web.json_response({"job": {"state": state, "pages": 100}})

    async def download(self, request: web.Request) -> web.Response:
        self.counts["download"] += 1
        self.authorised(request)
        return web.Response(body=b"%PDF-" + bytes(2000), content_type="application/pdf")

    async def delete(self, request: web.Request) -> web.Response:
        self.counts["delete"] += 1
        self.authorised(request)
        return web.Response(status=204)


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    p = Platform()
    app = web.Application()
    app.router.add_post("/api/login", p.login)
    app.router.add_post("/api/jobs", p.start)
    app.router.add_get("/api/jobs/{job}", p.poll)
    app.router.add_get("/api/jobs/{job}/file", p.download)
    app.router.add_delete("/api/jobs/{job}", p.delete)
    app.router.add_get("/api/mirror", p.mirror)
    runner, port = await serve_local(app)
    p.url = f"http://127.0.0.1:{port}"
    try:
        yield p
    finally:
        await runner.cleanup()


def journey(url: str) -> dict[str, Any]:
    auth = {"Authorization": "Bearer {{token}}"}
    return {
        "name": "bid", "service": "core", "kind": "journey", "url": url + "/",
        "interval": "1h", "timeout": "30s",
        "vars": {"user": "alice", "password": {"value": PASSWORD, "secret": True}},
        "steps": [
            {"id": "login", "request": {"method": "POST", "url": "{{base}}/api/login",
                                        "json": {"user": "{{vars.user}}",
                                                 "password": "{{vars.password}}"}},
             "extract": {"token": {"jsonpath": "$.token", "secret": True}}},
            {"id": "start", "request": {"method": "POST", "url": "{{base}}/api/jobs",
                                        "headers": auth},
             "expect": [{"status": 201}, {"header": "Location", "matches": "^/jobs/"}],
             "extract": {"job": {"jsonpath": "$.id"}}},
            {"id": "wait", "poll": {"request": {"url": "{{base}}/api/jobs/{{job}}",
                                                "headers": auth},
                                    "until": {"jsonpath": "$.job.state", "equals": "done"},
                                    "fail_if": {"jsonpath": "$.job.state", "in": ["failed"]},
                                    "every": "100ms", "within": "10s"},
             "extract": {"pages": {"regex": "\"pages\": ([0-9]+)"}}},
            {"id": "download", "request": {"url": "{{base}}/api/jobs/{{job}}/file",
                                           "headers": auth},
             "expect": [{"header": "Content-Type", "matches": "pdf"},
                        {"body_size": {"ge": 2000}}]},
            {"id": "cleanup", "always_run": True,
             "request": {"method": "DELETE", "url": "{{base}}/api/jobs/{{job}}",
                         "headers": auth}},
        ],
    }


def config(tmp: Path, url: str) -> dict[str, Any]:
    doc = capacity_config(tmp, url, profile={"users": 4, "spawn_rate": 4, "hold": "3s",
                                             "think_min": "0.1s", "think_max": "0.3s"},
                          thresholds={"p95": "5s", "error_rate": "0%",
                                      "endpoints": {"bid/download": {"p95": "<= 3s"}}})
    doc["targets"] = [journey(url)]
    doc["capacity"]["jobs"][0]["targets"] = ["bid"]
    return doc


async def test_journey_steps_are_the_endpoints_and_agree_with_the_platform(
        platform: Platform, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    doc = config(tmp_path, platform.url)
    path = tmp_path / "slaguard.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    cfg = parse_config(doc, env={})[0]
    store = CapacityStore(cfg.storage.path)
    try:
        runner = CapacityRunner(Settings.from_config(cfg, str(path)), store)
        record = await asyncio.to_thread(runner.run, "load", "test")
    finally:
        store.close()
    rows = {e["name"]: e for e in record["endpoints"]}
    assert sorted(rows) == ["bid/cleanup", "bid/download", "bid/login", "bid/start",
                            "bid/wait"], record
    for step, route in (("login", "login"), ("start", "start"), ("wait", "poll"),
                        ("download", "download"), ("cleanup", "delete")):
        assert rows[f"bid/{step}"]["count"] == platform.counts[route], (step, platform.counts)
    assert rows["bid/login"]["count"] >= 4  # every user went through at least once
    # The journey runs whole: three polls per started job, a download and a clean-up each
    # (a journey cut short by the run's end may stop between steps).
    assert platform.counts["poll"] >= (DONE_AFTER_POLLS + 1) * platform.counts["download"]
    assert record["total"]["failures"] == 0, record
    assert record["verdict"] == "passed", record
    assert [r["name"] for r in record["requests"]][:2] == ["bid/login", "bid/start"]
    assert any(t["expr"] == "bid/download p95 <= 3000 ms" and t["pass"]
               for t in record["thresholds"])
    text = json.dumps(record) + caplog.text
    assert PASSWORD not in text and "-secret" not in text


def polling(url: str, name: str, poll: dict[str, Any]) -> dict[str, Any]:
    """The journey, its poll changed: ``slow`` never sees its state (fails after
    ``within``), ``doomed`` sees ``fail_if`` at its first poll."""
    j = journey(url)
    j["name"] = name
    j["steps"][2]["poll"] |= poll
    return j


def failing_journeys(tmp: Path, url: str) -> dict[str, Any]:
    """``bid`` with a non-critical step whose URL comes from an extracted value on a host
    outside allow_hosts (localhost), and ``bad``, whose login expectation quotes the
    secret password (the body does not contain it): the step fails with a message that
    must be masked, the later steps are skipped but the always_run clean-up, whose
    {{job}} was never extracted (nothing to clean up); ``slow`` and ``doomed`` (see
    :func:`polling`)."""
    doc = config(tmp, url)
    bid = doc["targets"][0]
    bid["steps"][1]["extract"]["mirror"] = {"jsonpath": "$.mirror"}
    bid["steps"].insert(2, {"id": "mirror", "critical": False,
                            "request": {"url": "{{mirror}}"}})
    bad = journey(url)
    bad["name"] = "bad"
    bad["steps"][0]["expect"] = [{"body_contains": PASSWORD}]
    doc["targets"].append(bad)
    state = "$.job.state"
    doc["targets"] += [
        polling(url, "slow", {"until": {"jsonpath": state, "equals": "never"},
                              "every": "100ms", "within": "300ms"}),
        polling(url, "doomed", {"until": {"jsonpath": state, "equals": "done"},
                                "fail_if": {"jsonpath": state, "in": ["running"]}})]
    job = doc["capacity"]["jobs"][0]
    job |= {"targets": ["bid", "bad", "slow", "doomed"], "abort": {"error_rate": None}}
    job["profile"]["hold"] = "3s"
    return doc


async def test_failed_steps_skip_the_rest_mask_secrets_and_never_ask_off_the_list(
        platform: Platform, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    kept: list[Path] = []  # the run's folder, kept to read what Locust wrote
    monkeypatch.setattr(runner_module.shutil, "rmtree",
                        lambda p, ignore_errors=False: kept.append(Path(p)))
    doc = failing_journeys(tmp_path, platform.url)
    path = tmp_path / "slaguard.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    cfg = parse_config(doc, env={})[0]
    store = CapacityStore(cfg.storage.path)
    try:
        runner = CapacityRunner(Settings.from_config(cfg, str(path)), store)
        record = await asyncio.to_thread(runner.run, "load", "test")
    finally:
        store.close()
        monkeypatch.undo()
    (folder,) = kept
    try:
        failures = (folder / "run_failures.csv").read_text(encoding="utf-8")
        said = "".join(p.read_text(encoding="utf-8", errors="replace")
                       for p in folder.glob("*") if p.suffix in (".out", ".log"))
    finally:
        shutil.rmtree(folder)
    rows = {e["name"]: e for e in record["endpoints"]}
    # bad: login fails every time; nothing after it but the clean-up, which had no job.
    assert {n for n in rows if n.startswith("bad/")} == {"bad/login"}, rows
    assert rows["bad/login"]["count"] == rows["bad/login"]["failures"] > 0
    assert platform.counts["login"] == sum(rows[f"{n}/login"]["count"]
                                           for n in ("bid", "bad", "slow", "doomed"))
    assert "step login: body does not contain '***'" in failures, failures
    # bid: the URL off the list is never asked; not critical, so the journey goes on.
    assert rows["bid/mirror"]["count"] == rows["bid/mirror"]["failures"] > 0
    assert platform.counts["mirror"] == 0
    assert "URL not in capacity.allow_hosts: http://localhost:" in failures
    assert rows["bid/download"]["count"] == platform.counts["download"] > 0
    assert rows["bid/download"]["failures"] == 0
    # slow: its poll gives up after `within`, doomed's at fail_if: one failed poll per
    # started job each, no download, and the always_run clean-up still deletes the job.
    for name, polls in (("slow", 3), ("doomed", 1)):
        assert f"{name}/download" not in rows
        started = rows[f"{name}/start"]["count"]
        assert rows[f"{name}/wait"]["failures"] == rows[f"{name}/cleanup"]["count"] == started
        assert rows[f"{name}/wait"]["count"] >= polls * started > 0
    assert "step wait: $.job.state not as expected within 0.3 s" in failures
    assert "step wait: $.job.state matched fail_if after 1 polls" in failures
    assert platform.counts["delete"] == sum(rows[f"{n}/cleanup"]["count"]
                                            for n in ("bid", "slow", "doomed"))
    assert record["verdict"] == "failed"
    for text in (json.dumps(record), caplog.text, failures, said):
        assert PASSWORD not in text and "-secret" not in text


def test_the_locustfile_carries_the_journey_and_the_allowlist(tmp_path: Path) -> None:
    cfg = parse_config(config(tmp_path, "http://127.0.0.1:9"), env={})[0]
    plan = plan_for(cfg.capacity.job("load"), {t.name: t for t in cfg.targets},
                    cfg.capacity.allow_hosts)
    assert [(e.name, e.method, e.url, e.journey) for e in plan.endpoints][:2] == [
        ("bid/login", "POST", "{{base}}/api/login", "bid"),
        ("bid/start", "POST", "{{base}}/api/jobs", "bid")]
    assert plan.host == "http://127.0.0.1:9"
    (j,) = plan.journeys
    assert (j["base"], j["secret_vars"], j["steps"][2]["poll"]["every_s"]) == (
        "http://127.0.0.1:9", ["password"], 0.1)
    assert '"allow_hosts": ["127.0.0.1"]' in render(plan)
    # Without the list (an older caller), only the hosts the plan names are allowed.
    bare = plan_for(cfg.capacity.job("load"), {t.name: t for t in cfg.targets})
    assert '"allow_hosts": ["127.0.0.1:9"]' in render(bare)


