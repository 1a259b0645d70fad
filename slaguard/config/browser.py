"""``kind: browser``: a real page load in Chromium (probes.browser).

Placeholder: the browser probe's own fields land here.
"""

from __future__ import annotations

from typing import Literal

from slaguard.config.types import TargetBase


class BrowserTarget(TargetBase):
    kind: Literal["browser"]
