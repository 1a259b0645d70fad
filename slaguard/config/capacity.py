"""``capacity:``: load tests run on purpose (the capacity job).

Placeholder: the capacity job's settings land here.
"""

from __future__ import annotations

from slaguard.config.types import Strict


class Capacity(Strict):
    pass
