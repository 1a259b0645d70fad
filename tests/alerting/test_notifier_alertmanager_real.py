"""The Alertmanager notifier against a real Alertmanager (Debian prometheus-alertmanager)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from alerting.notification import Notification, Status
from alerting.notifiers import alertmanager
from slaguard.config.schema import AlertmanagerChannel
from tests.conftest import free_port, require_binary
from tests.integration.servers import process

pytestmark = pytest.mark.integration

CONFIG = """\
route: {receiver: blackhole}
receivers: [{name: blackhole}]
"""


@pytest.fixture
def am_url(tmp_path: Path) -> Iterator[str]:
    binary = require_binary("prometheus-alertmanager", "alertmanager")
    port = free_port()
    (tmp_path / "am.yml").write_text(CONFIG, encoding="utf-8")
    argv = [binary, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    base = f"http://127.0.0.1:{port}"
    with process(argv, f"{base}/-/ready", tmp_path / "alertmanager.log"):
        yield base


async def _alerts(session: aiohttp.ClientSession, base: str) -> list[dict]:
    async with session.get(f"{base}/api/v2/alerts") as resp:
        assert resp.status == 200
        return list(await resp.json())


async def test_firing_then_resolved(am_url: str, session: aiohttp.ClientSession,
                                    notification: Notification) -> None:
    channel = AlertmanagerChannel(kind="alertmanager", url=am_url)
    started = datetime.now(UTC).replace(microsecond=0)
    firing = dataclasses.replace(notification, started_at=started)
    await alertmanager.send(firing, channel, session)
    await alertmanager.send(firing, channel, session)  # re-posting is idempotent

    (alert,) = await _alerts(session, am_url)
    assert alert["labels"] == {"alertname": "SlaguardConfirmedOutage", "service": "core",
                               "severity": "P1", "incident": "INC-42",
                               "rule": "confirmed_outage", "target": "web-home"}
    assert alert["annotations"]["priority"] == "P1 紧急问题 (Critical)"
    assert alert["status"]["state"] == "active"
    assert alert["generatorURL"] == "https://slaguard.example.com/api/v1/incidents/INC-42"

    resolved = dataclasses.replace(firing, status=Status.RESOLVED, ended_at=datetime.now(UTC))
    await alertmanager.send(resolved, channel, session)
    assert await _alerts(session, am_url) == []  # the same alert, now ended


async def test_unparsable_link_does_not_cost_the_page(
    am_url: str, session: aiohttp.ClientSession, notification: Notification
) -> None:
    # Sent as generatorURL, ":::" gets a 422 from Alertmanager 0.25 (checked by hand).
    channel = AlertmanagerChannel(kind="alertmanager", url=am_url)
    await alertmanager.send(dataclasses.replace(notification, url=":::"), channel, session)
    (alert,) = await _alerts(session, am_url)
    assert alert["annotations"]["url"] == ":::"
    assert not alert.get("generatorURL")
