"""``slaguard openslo …``: placeholder; the commands land here."""

from __future__ import annotations

import argparse
from typing import Any


def add_openslo_parser(sub: Any, config_default: str) -> None:
    """Adds ``slaguard openslo`` and its subcommands to the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser("openslo", help="openslo (not yet built)")
    p.set_defaults(fn=lambda args: 2)
