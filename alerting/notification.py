"""What a notifier delivers: one immutable ``Notification`` and its renderings.

An incident event (opened, escalated, restored, resolved) becomes one
``Notification`` per channel; the outbox stores it (``to_dict``/``from_dict``)
and hands it to the channel's notifier.  Every notifier renders from the same
helpers here, so a page reads the same in an email, DingTalk and Feishu:
bilingual (中文/English), with priority names as the source SLA says them,
and with what on-call needs to act: the incident's link, the command and the
API call that acknowledge it, and when it counts as restored and resolved.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo


class Priority(enum.StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def zh(self) -> str:
        return _PRIORITY_NAMES[self][0]

    @property
    def en(self) -> str:
        return _PRIORITY_NAMES[self][1]

    @property
    def label(self) -> str:
        """``P1 紧急问题 (Critical)``."""
        return f"{self.value} {self.zh} ({self.en})"


# The names of the source SLA (incident-response table), not our invention.
_PRIORITY_NAMES: Mapping[Priority, tuple[str, str]] = MappingProxyType({
    Priority.P1: ("紧急问题", "Critical"),
    Priority.P2: ("高优先级", "High"),
    Priority.P3: ("中优先级", "Medium"),
    Priority.P4: ("低优先级", "Low"),
})


class Status(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESTORED = "restored"

    @property
    def zh(self) -> str:
        return _STATUS_NAMES[self]

    @property
    def en(self) -> str:
        return self.value.capitalize()

    @property
    def label(self) -> str:
        """``告警 Firing``."""
        return f"{self.zh} {self.en}"

    @property
    def active(self) -> bool:
        """Still needs someone: everything but resolved."""
        return self is not Status.RESOLVED

    @property
    def ended(self) -> bool:
        """The symptom is over (restored or resolved): green, and no longer urgent."""
        return self in (Status.RESTORED, Status.RESOLVED)


_STATUS_NAMES: Mapping[Status, str] = MappingProxyType({
    Status.FIRING: "告警",
    Status.RESOLVED: "已解决",
    Status.ESCALATED: "已升级",
    Status.ACKNOWLEDGED: "已确认",
    Status.RESTORED: "已恢复",
})


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        # A naive time would be read in the notifier's zone, not the incident's.
        raise ValueError(f"Notification.{name} must carry a UTC offset")


@dataclass(frozen=True, slots=True)
class Notification:
    incident_id: str
    # The same on every retry of the same outbox row; receivers dedupe by it
    # (webhook-id, email Message-ID).
    idempotency_key: str
    priority: Priority
    status: Status
    title: str
    summary: str
    service: str
    started_at: datetime
    ended_at: datetime | None = None
    # 0 = first responders; n = the n-th step of the incident's escalation chain.
    escalation_level: int = 0
    escalation_step: str | None = None  # the step's name, e.g. "senior-engineer"
    rule: str | None = None  # what opened the incident, e.g. "confirmed_outage"
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    url: str | None = None  # the incident's page
    timezone: str = "UTC"  # the zone times are shown in (config `timezone`)
    # How on-call acknowledges (None once the incident is resolved): the CLI
    # command and the API call.
    ack_command: str | None = None
    ack_api: str | None = None
    # Seconds the incident's conditions must stay clear before it counts as
    # restored (``incidents.restore_after``), and after restoration before it
    # resolves by itself (``incidents.auto_resolve_after``); None: not automatic.
    restore_after_s: int | None = None
    auto_resolve_after_s: int | None = None

    def __post_init__(self) -> None:
        # Accept plain strings from the outbox or YAML; store the enums.
        object.__setattr__(self, "priority", Priority(self.priority))
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        _aware("started_at", self.started_at)
        _aware("ended_at", self.ended_at)
        if self.escalation_level < 0:
            raise ValueError("Notification.escalation_level must be >= 0")
        ZoneInfo(self.timezone)  # fail at construction, not in a notifier

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the outbox payload); ``from_dict`` reverses it."""
        doc: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["priority"] = self.priority.value
        doc["status"] = self.status.value
        doc["labels"] = dict(self.labels)
        doc["started_at"] = self.started_at.isoformat()
        doc["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Notification:
        values = dict(doc)
        values["started_at"] = datetime.fromisoformat(values["started_at"])
        if values.get("ended_at"):
            values["ended_at"] = datetime.fromisoformat(values["ended_at"])
        return cls(**values)


# -- rendering ------------------------------------------------------------------


def format_time(value: datetime, tz: str) -> str:
    """``2026-10-14 02:00:00 +08:00`` in the configured zone: people read local time."""
    local = value.astimezone(ZoneInfo(tz))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def rfc3339(value: datetime) -> str:
    """UTC with a ``Z``, as Alertmanager and webhook receivers expect."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def headline(n: Notification) -> str:
    """One line for subjects and chat titles.

    ``[P1 紧急问题 Critical] 告警 Firing · core: title``
    """
    return (f"[{n.priority.value} {n.priority.zh} {n.priority.en}] "
            f"{n.status.label} · {n.service}: {n.title}")


def detail_rows(n: Notification) -> list[tuple[str, str]]:
    """(bilingual label, value) pairs every rendering shows, in order."""
    rows = [
        ("优先级 Priority", n.priority.label),
        ("状态 Status", n.status.label),
        ("服务 Service", n.service),
        ("开始 Started", format_time(n.started_at, n.timezone)),
    ]
    if n.ended_at is not None:
        rows.append(("结束 Ended", format_time(n.ended_at, n.timezone)))
    if n.escalation_level or n.escalation_step:
        step = f" ({n.escalation_step})" if n.escalation_step else ""
        level = n.escalation_level
        rows.append(("升级 Escalation", f"第 {level} 级 level {level}{step}"))
    rows.append(("事件 Incident", n.incident_id))
    if n.restore_after_s is not None:
        after = duration(n.restore_after_s)
        rows.append(("恢复判定 Restored after", f"条件消失 {after} 后 / clear for {after}"))
    if n.auto_resolve_after_s is not None:
        after = duration(n.auto_resolve_after_s)
        rows.append(("自动解决 Auto-resolve", f"恢复 {after} 后 / {after} after restoration"))
    rows.extend((f"标签 {key}", value) for key, value in sorted(n.labels.items()))
    return rows


def action_rows(n: Notification) -> list[tuple[str, str]]:
    """(bilingual label, value): where the incident is and how to acknowledge it."""
    rows = []
    if n.url:
        rows.append(("详情 Details", n.url))
    if n.ack_command:
        rows.append(("确认 Acknowledge", n.ack_command))
    if n.ack_api:
        rows.append(("确认 API Acknowledge by API", n.ack_api))
    return rows


def duration(seconds: int) -> str:
    """``90`` → ``1m30s``; ``3600`` → ``1h``: as durations are written in the config."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def render_text(n: Notification) -> str:
    """Plain bilingual text: email text part, Feishu text message, webhook ``text``."""
    lines = [headline(n), ""]
    if n.summary:
        lines += [n.summary, ""]
    lines += [f"{label}: {value}" for label, value in detail_rows(n)]
    lines += [f"{label}: {value}" for label, value in action_rows(n)]
    return "\n".join(lines)


def render_markdown(n: Notification) -> str:
    """Markdown for DingTalk and WeCom (their common subset: headings, bold, links).

    Text is not escaped: neither robot documents backslash escapes, and a
    literal backslash in a page is worse than a rare stray emphasis.
    """
    lines = [f"### {headline(n)}", ""]
    if n.summary:
        lines += [n.summary, ""]
    lines += [f"- **{label}**: {value}" for label, value in detail_rows(n)]
    if n.ack_command:
        lines.append(f"- **确认 Acknowledge**: `{n.ack_command}`")
    if n.ack_api:
        lines.append(f"- **确认 API Acknowledge by API**: `{n.ack_api}`")
    if n.url:
        lines += ["", f"[查看详情 View incident]({n.url})"]
    return "\n".join(lines)


def truncate_utf8(text: str, max_bytes: int, marker: str = "…") -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes on a character boundary.

    Chat limits count bytes, and Chinese is three bytes a character: cutting by
    characters would still be rejected (WeCom 40058, DingTalk 460101).
    """
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max_bytes - len(marker.encode("utf-8"))
    return data[:max(room, 0)].decode("utf-8", errors="ignore") + marker
