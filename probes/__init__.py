"""slaguard probes: one module per kind, one contract (see probes.base).

``PROBES`` maps a target's ``kind`` to its ``run``; a test checks it against
``slaguard.config.schema.TARGET_KINDS``.
"""

from probes import browser, freshness, http, journey, upload
from probes._common import close_connectors
from probes.base import ProbeContext, ProbeFn
from probes.warmup import WarmUp, warm_up

PROBES: dict[str, ProbeFn] = {
    "http": http.run,
    "upload": upload.run,
    "freshness": freshness.run,
    "browser": browser.run,
    "journey": journey.run,
}

__all__ = ["PROBES", "ProbeContext", "ProbeFn", "WarmUp", "close_connectors", "warm_up"]
