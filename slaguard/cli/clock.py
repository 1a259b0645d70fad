"""The commands' clock: one place, so tests can set ``now`` for every command."""

from __future__ import annotations

from collections.abc import Callable

from probes.base import wall_ms

now_ms: Callable[[], int] = wall_ms
