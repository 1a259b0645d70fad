"""Notification: validation, persistence round trip, bilingual renderings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from alerting.notification import (
    Notification,
    Priority,
    Status,
    format_time,
    headline,
    render_markdown,
    render_text,
    rfc3339,
    truncate_utf8,
)


def test_priority_names_are_the_source_slas() -> None:
    assert [p.label for p in Priority] == [
        "P1 紧急问题 (Critical)", "P2 高优先级 (High)", "P3 中优先级 (Medium)", "P4 低优先级 (Low)",
    ]


def test_status_labels() -> None:
    assert [s.label for s in Status] == [
        "告警 Firing", "已解决 Resolved", "已升级 Escalated", "已确认 Acknowledged",
        "已恢复 Restored",
    ]


def test_strings_become_enums(notification: Notification) -> None:
    n = dataclasses.replace(notification, priority="P3", status="acknowledged")  # type: ignore[arg-type]
    assert n.priority is Priority.P3 and n.status is Status.ACKNOWLEDGED


@pytest.mark.parametrize(
    "change, message",
    [
        ({"started_at": datetime(2023, 11, 14)}, "UTC offset"),
        ({"ended_at": datetime(2023, 11, 14)}, "UTC offset"),
        ({"escalation_level": -1}, "escalation_level"),
        ({"priority": "P5"}, "P5"),
        ({"status": "open"}, "open"),
    ],
)
def test_rejects_bad_values(notification: Notification, change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(notification, **change)


def test_unknown_timezone_rejected(notification: Notification) -> None:
    with pytest.raises(Exception, match="Mars"):
        dataclasses.replace(notification, timezone="Mars/Olympus")


def test_is_immutable_and_hashable(notification: Notification) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        notification.title = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        notification.labels["target"] = "x"  # type: ignore[index]
    assert hash(notification) == hash(dataclasses.replace(notification))


def test_dict_round_trip(notification: Notification) -> None:
    resolved = dataclasses.replace(notification, status=Status.RESOLVED,
                                   ended_at=datetime(2023, 11, 14, 22, 30, tzinfo=UTC))
    for n in (notification, resolved):
        doc = n.to_dict()
        assert doc["priority"] == "P1" and isinstance(doc["labels"], dict)
        assert Notification.from_dict(doc) == n
    assert resolved.to_dict()["ended_at"] == "2023-11-14T22:30:00+00:00"


def test_times() -> None:
    t = datetime(2023, 11, 14, 22, 0, 0, 123000, tzinfo=UTC)
    assert format_time(t, "Asia/Shanghai") == "2023-11-15 06:00:00 +08:00"
    assert rfc3339(t) == "2023-11-14T22:00:00.123Z"


def test_headline(notification: Notification) -> None:
    assert headline(notification) == (
        "[P1 紧急问题 Critical] 告警 Firing · core: 核心服务不可用 Core service down")


def test_render_text(notification: Notification) -> None:
    assert render_text(notification) == """\
[P1 紧急问题 Critical] 告警 Firing · core: 核心服务不可用 Core service down

3/3 个地点确认故障 confirmed down from 3/3 locations

优先级 Priority: P1 紧急问题 (Critical)
状态 Status: 告警 Firing
服务 Service: core
开始 Started: 2023-11-15 06:00:00 +08:00
事件 Incident: INC-42
恢复判定 Restored after: 条件消失 5m 后 / clear for 5m
自动解决 Auto-resolve: 恢复 1h 后 / 1h after restoration
标签 target: web-home
详情 Details: https://slaguard.example.com/api/v1/incidents/INC-42
确认 Acknowledge: slaguard incidents ack INC-42 -c /etc/slaguard/slaguard.yaml
确认 API Acknowledge by API: curl -X POST -H "Authorization: Bearer $SLAGUARD_API_TOKEN" \
https://slaguard.example.com/api/v1/incidents/INC-42/acknowledge"""


def test_render_text_resolved_and_escalated(notification: Notification) -> None:
    n = dataclasses.replace(notification, status=Status.RESOLVED, summary="", url=None,
                            ended_at=datetime(2023, 11, 14, 22, 30, tzinfo=UTC),
                            escalation_level=2, escalation_step="senior-engineer", labels={},
                            ack_command=None, ack_api=None, restore_after_s=None,
                            auto_resolve_after_s=None)
    assert render_text(n) == """\
[P1 紧急问题 Critical] 已解决 Resolved · core: 核心服务不可用 Core service down

优先级 Priority: P1 紧急问题 (Critical)
状态 Status: 已解决 Resolved
服务 Service: core
开始 Started: 2023-11-15 06:00:00 +08:00
结束 Ended: 2023-11-15 06:30:00 +08:00
升级 Escalation: 第 2 级 level 2 (senior-engineer)
事件 Incident: INC-42"""


def test_render_markdown(notification: Notification) -> None:
    assert render_markdown(notification) == """\
### [P1 紧急问题 Critical] 告警 Firing · core: 核心服务不可用 Core service down

3/3 个地点确认故障 confirmed down from 3/3 locations

- **优先级 Priority**: P1 紧急问题 (Critical)
- **状态 Status**: 告警 Firing
- **服务 Service**: core
- **开始 Started**: 2023-11-15 06:00:00 +08:00
- **事件 Incident**: INC-42
- **恢复判定 Restored after**: 条件消失 5m 后 / clear for 5m
- **自动解决 Auto-resolve**: 恢复 1h 后 / 1h after restoration
- **标签 target**: web-home
- **确认 Acknowledge**: `slaguard incidents ack INC-42 -c /etc/slaguard/slaguard.yaml`
- **确认 API Acknowledge by API**: `curl -X POST -H "Authorization: Bearer $SLAGUARD_API_TOKEN" \
https://slaguard.example.com/api/v1/incidents/INC-42/acknowledge`

[查看详情 View incident](https://slaguard.example.com/api/v1/incidents/INC-42)"""


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        ("abc", 3, "abc"),
        ("abcd", 3, "…"),  # the marker alone is 3 bytes
        ("中文字符", 12, "中文字符"),
        ("中文字符", 11, "中文…"),  # never half a character
        ("中文字符", 7, "中…"),
    ],
)
def test_truncate_utf8(text: str, limit: int, expected: str) -> None:
    out = truncate_utf8(text, limit)
    assert out == expected
    assert len(out.encode()) <= limit
