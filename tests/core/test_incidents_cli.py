"""``slaguard incidents`` against a real running slaguard: the page a real webhook
receives names the command, and that very command acknowledges the incident;
list, show, restore and resolve; exit codes 0, 1 and 2."""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from slaguard.app import App
from slaguard.cli import main
from slaguard.config import load_config
from tests.conftest import free_port, serve_local

TOKEN = "cli-test-token"


@dataclass
class Running:
    app: App
    url: str
    config: Path
    pages: list[dict[str, Any]]  # what the on-call webhook received


CONFIG = """\
version: 1
timezone: Asia/Shanghai
storage: {{path: {db}}}
server:
  listen: 127.0.0.1:{port}
  api_token: {token}
  public_url: http://127.0.0.1:{port}/
location: shanghai
services:
  core: {{title: 核心服务, availability: 99.9%}}
incidents:
  restore_after: 2m
  auto_resolve_after: 30m
  priorities:
    P1: {{respond: 15m, restore: 4h, resolve: 24h, notify: [oncall]}}
    P3: {{respond: 2h, resolve: 24h, notify: [oncall]}}
channels:
  oncall: {{kind: webhook, url: "{hook}"}}
"""


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    pages: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        pages.append(await request.json())
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner, hook_port = await serve_local(receiver)
    port = free_port()
    path = tmp_path / "slaguard.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "record.db", port=port, token=TOKEN,
                                  hook=f"http://127.0.0.1:{hook_port}/hook"), encoding="utf-8")
    cfg, _ = load_config(path)
    app = App(cfg, config_path=str(path))
    await app.start(schedule=False)
    try:
        yield Running(app, f"http://127.0.0.1:{port}", path, pages)
    finally:
        await app.stop()
        await runner.cleanup()


async def delivered(pages: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The pages, once ``count`` have arrived (the app's own ticker sends them)."""
    for _ in range(100):
        if len(pages) >= count:
            break
        await asyncio.sleep(0.05)
    return pages


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``slaguard ARGV`` in a thread (the command runs its own requests while the
    app serves on this loop): exit code, stdout, stderr."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def open_incident(r: Running, priority: str = "P1", title: str = "登录失败 login fails"
                        ) -> str:
    async with aiohttp.ClientSession() as s, s.post(
            f"{r.url}/api/v1/incidents", headers={"Authorization": f"Bearer {TOKEN}"},
            json={"service": "core", "title": title, "priority": priority,
                  "by": "hotline"}) as resp:
        assert resp.status == 201
        return str((await resp.json())["incident"]["id"])


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLAGUARD_API_TOKEN", raising=False)
    monkeypatch.setenv("USER", "oncall-li")


async def test_the_paged_command_acknowledges_and_the_rest_follows(
        running: Running, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = await open_incident(running)
    [page] = await delivered(running.pages, 1)
    data = page["data"]
    assert data["url"] == f"{running.url}/api/v1/incidents/{first}"
    assert data["ack_command"] == f"slaguard incidents ack {first} -c {running.config}"
    assert data["ack_command"] in data["text"] and data["ack_api"] in data["text"]

    # The command exactly as paged, from another directory: URL and token from -c.
    monkeypatch.chdir(running.config.parent.parent)
    code, out, err = await cli(capsys, *shlex.split(data["ack_command"])[1:])
    assert (code, err) == (0, "")
    assert out.startswith(f"{first} acknowledged at 20") and "by oncall-li" in out

    second = await open_incident(running, "P3", "上传慢 uploads slow")
    code, out, _ = await cli(capsys, "incidents", "list", "-c", str(running.config))
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "PRI", "STATE", "SERVICE", "OPENED", "TITLE"]
    assert [r.split()[:3] for r in rows] == [[second, "P3", "opened"],
                                             [first, "P1", "acknowledged"]]

    code, out, _ = await cli(capsys, "incidents", "restore", second, "--by", "bob",
                             "--note", "cache flushed", "-c", str(running.config))
    assert code == 0 and out.startswith(f"{second} restored at ") and "by bob" in out
    code, out, _ = await cli(capsys, "incidents", "resolve", second.removeprefix("INC-"),
                             "-c", str(running.config), "--json")
    doc = json.loads(out)["incident"]
    assert code == 0 and doc["state"] == "resolved" and doc["resolved_by"] == "oncall-li"

    code, out, _ = await cli(capsys, "incidents", "list", "--open", "--url", running.url,
                             "--token", TOKEN)
    assert code == 0 and second not in out and first in out
    code, out, _ = await cli(capsys, "incidents", "show", second, "--url", running.url,
                             "--token", TOKEN)
    assert code == 0
    assert f"{second}  P3  resolved" in out and "restored      20" in out
    assert "note=cache flushed" in out and "log" in out

    # Whoever was paged hears the restore and the resolution too (nothing for an ack).
    told = [(p["data"]["incident_id"], p["type"]) for p in await delivered(running.pages, 4)]
    assert told == [(first, "incident.firing"), (second, "incident.firing"),
                    (second, "incident.restored"), (second, "incident.resolved")]


async def test_exit_codes(running: Running, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    first = await open_incident(running)
    cfg = ["-c", str(running.config)]
    # 2: usage, configuration, an incident that does not exist.
    for argv, word in (
            (["show", "INC-99", *cfg], "no incident INC-99"),
            (["ack", "99", *cfg], "no incident INC-99"),
            (["ack", "seven", *cfg], "not an incident id"),
            (["list", "--url", "ftp://x"], "--url"),
            (["list", "-c", str(running.config.parent / "missing.yaml")], "cannot read"),
            (["ack", first, "--url", running.url, "-c", "/nonexistent.yaml"], "no API token")):
        code, _, err = await cli(capsys, "incidents", *argv)
        assert code == 2 and word in err, (argv, err)
    # 1: the server refused or failed.
    code, _, err = await cli(capsys, "incidents", "ack", first, "--url", running.url,
                             "--token", "wrong")
    assert code == 1 and "refused the token" in err
    monkeypatch.setenv("SLAGUARD_API_TOKEN", "also-wrong")  # the environment beats -c
    code, _, err = await cli(capsys, "incidents", "ack", first, *cfg)
    assert code == 1 and "SLAGUARD_API_TOKEN" in err
    monkeypatch.setenv("SLAGUARD_API_TOKEN", TOKEN)
    code, _, _ = await cli(capsys, "incidents", "resolve", first, "--url", running.url)
    assert code == 0
    code, _, err = await cli(capsys, "incidents", "ack", first, "--url", running.url)
    assert code == 1 and "409" in err and "resolved" in err
    code, _, err = await cli(capsys, "incidents", "list", "--url",
                             f"http://127.0.0.1:{free_port()}")
    assert code == 1 and "cannot reach slaguard" in err
