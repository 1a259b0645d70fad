"""The event loop slaguard's processes run on.

uvloop where it is installed (Linux and macOS): its transports cost less CPU
per connection than asyncio's, which is most of what a cold probe spends.
Everything slaguard does works on either loop; the tests run on asyncio's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # Windows, or an install without it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on slaguard's loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
