"""What ``slaguard rules -o DIR`` writes: the Prometheus rules and the Alertmanager
configuration that routes their alerts back to slaguard."""

from __future__ import annotations

from pathlib import Path

from alerting.amconfig import ALERTMANAGER_FILE, render_alertmanager
from alerting.promrules import RULES_FILE, render_rules
from slaguard.config.schema import Config


def write_rules(cfg: Config, out_dir: Path) -> list[Path]:
    """Write ``slaguard-rules.yml`` and ``alertmanager.yml`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rules = out_dir / RULES_FILE
    rules.write_text(render_rules(cfg), encoding="utf-8")
    am = out_dir / ALERTMANAGER_FILE
    am.write_text(render_alertmanager(cfg), encoding="utf-8")
    if cfg.server.api_token:
        am.chmod(0o600)  # it holds the bearer token
    return [rules, am]
