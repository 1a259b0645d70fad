"""Placeholder for ``kind: journey``; the probe lands here."""

from __future__ import annotations

from probes.base import ProbeContext
from slaguard.domain import ProbeResult


async def run(target: object, ctx: ProbeContext) -> ProbeResult:
    raise NotImplementedError("kind: journey")
