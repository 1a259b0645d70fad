"""Alertmanager v2 API payloads, against a real local server (see *_real for the binary)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from aiohttp import web

from alerting.notification import Notification, Status
from alerting.notifiers import alertmanager
from alerting.notifiers.errors import DeliveryError
from slaguard.config.schema import AlertmanagerChannel
from tests.alerting.conftest import ACK_API, ACK_COMMAND, NOW_MS, Receiver


def channel(url: str) -> AlertmanagerChannel:
    return AlertmanagerChannel(kind="alertmanager", url=url)


def ok() -> web.Response:
    return web.Response(status=200)  # AM answers 200 with an empty body


async def test_firing(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = ok
    await alertmanager.send(notification, channel(receiver.url("/")), now_ms=NOW_MS)
    got = receiver.last
    assert (got.method, got.path) == ("POST", "/api/v2/alerts")
    assert got.json() == [{
        "labels": {"alertname": "SlaguardConfirmedOutage", "service": "core", "severity": "P1",
                   "incident": "INC-42", "rule": "confirmed_outage", "target": "web-home"},
        "annotations": {
            "summary": "核心服务不可用 Core service down",
            "description": "3/3 个地点确认故障 confirmed down from 3/3 locations",
            "priority": "P1 紧急问题 (Critical)",
            "status": "firing",
            "escalation_level": "0",
            "acknowledge": ACK_COMMAND,
            "acknowledge_api": ACK_API,
            "restore_after_seconds": "300",
            "auto_resolve_after_seconds": "3600",
        },
        "startsAt": "2023-11-14T22:00:00.000Z",
        "endsAt": "2023-11-14T22:17:20.000Z",  # now + 4 min: re-sent every minute while open
        "generatorURL": "https://slaguard.example.com/api/v1/incidents/INC-42",
    }]


async def test_resolved_and_escalated(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = ok
    ended = datetime(2023, 11, 14, 22, 10, tzinfo=UTC)
    n = dataclasses.replace(notification, status=Status.RESOLVED, ended_at=ended, url=None,
                            escalation_level=1, escalation_step="senior-engineer",
                            labels={"0bad-name": "x", "empty": ""}, rule=None)
    await alertmanager.send(n, channel(receiver.url("/api/v2/alerts")), now_ms=NOW_MS)
    (alert,) = receiver.last.json()
    assert receiver.last.path == "/api/v2/alerts"
    assert alert["labels"] == {"alertname": "SlaguardIncident", "service": "core",
                               "severity": "P1", "incident": "INC-42", "_0bad_name": "x"}
    assert alert["endsAt"] == "2023-11-14T22:10:00.000Z"
    assert alert["annotations"]["escalation_step"] == "senior-engineer"
    assert "generatorURL" not in alert and "url" not in alert["annotations"]


async def test_relative_link_goes_to_an_annotation(receiver: Receiver,
                                                   notification: Notification) -> None:
    receiver.respond = ok
    n = dataclasses.replace(notification, url="/incidents/INC-42")
    await alertmanager.send(n, channel(receiver.url("")), now_ms=NOW_MS)
    (alert,) = receiver.last.json()
    assert "generatorURL" not in alert
    assert alert["annotations"]["url"] == "/incidents/INC-42"


async def test_resolved_without_end_uses_now(receiver: Receiver,
                                             notification: Notification) -> None:
    receiver.respond = ok
    n = dataclasses.replace(notification, status=Status.RESOLVED)
    await alertmanager.send(n, channel(receiver.url("")), now_ms=NOW_MS)
    assert receiver.last.json()[0]["endsAt"] == "2023-11-14T22:13:20.000Z"


def test_label_names() -> None:
    assert alertmanager.label_name("a.b-c") == "a_b_c"
    assert alertmanager.label_name("9x") == "_9x"
    assert alertmanager.alertname("backup-freshness") == "SlaguardBackupFreshness"


@pytest.mark.parametrize("status, retryable", [(400, False), (422, False), (500, True),
                                               (503, True)])
async def test_status(receiver: Receiver, notification: Notification, status: int,
                      retryable: bool) -> None:
    receiver.respond = lambda: web.Response(status=status, text="bad")
    with pytest.raises(DeliveryError) as info:
        await alertmanager.send(notification, channel(receiver.url("")), now_ms=NOW_MS)
    assert (info.value.status, info.value.retryable) == (status, retryable)
