"""``kind: journey``: ordered HTTP steps with variables and polls (probes.journey).

Placeholder: the journey probe's own fields land here.
"""

from __future__ import annotations

from typing import Literal

from slaguard.config.types import TargetBase


class JourneyTarget(TargetBase):
    kind: Literal["journey"]
