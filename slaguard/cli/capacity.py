"""``slaguard capacity …``: placeholder; the commands land here."""

from __future__ import annotations

import argparse
from typing import Any


def add_capacity_parser(sub: Any, config_default: str) -> None:
    """Adds ``slaguard capacity`` and its subcommands to the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser("capacity", help="capacity (not yet built)")
    p.set_defaults(fn=lambda args: 2)
