"""What every command shares: exit codes, loading the configuration, who acts."""

from __future__ import annotations

import os
import sys

from slaguard.config import Config, load_config

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2  # usage: also configuration errors


def load(path: str) -> Config:
    cfg, warnings = load_config(path)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    return cfg


def default_actor() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "cli"
