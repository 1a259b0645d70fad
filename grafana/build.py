"""``slaguard grafana build``: write the dashboards' JSON files.

The files are Grafana's raw dashboard model (no ``__inputs``, no ``id``), so the
same file serves file provisioning (``grafana/provisioning/dashboards``) and
``publish``.  Output is byte-stable (sorted keys, two-space indent, final
newline): the committed copies in ``grafana/dashboards/`` are golden files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grafana.dashboards import DASHBOARDS, Options
from grafana.panels import JSON, iter_panels
from slaguard.config.schema import Config

# The committed copies: what Grafana provisions in docker-compose.
DEFAULT_DIR = Path(__file__).resolve().parent / "dashboards"


def options_from(cfg: Config | None) -> Options:
    if cfg is None:
        return Options()
    rpo = [int(o.freshness.total_seconds()) for o in cfg.slos if o.freshness]
    return Options(timezone=cfg.timezone, currency=cfg.compensation.currency,
                   rpo_objective_s=min(rpo, default=Options.rpo_objective_s))


def dashboards(cfg: Config | None = None) -> dict[str, JSON]:
    """File stem → dashboard model."""
    opts = options_from(cfg)
    return {name: make(opts) for name, make in DASHBOARDS.items()}


def render(dashboard: JSON) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build(cfg: Config | None, out_dir: Path) -> list[Path]:
    """Write one ``<name>.json`` per dashboard into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, dash in dashboards(cfg).items():
        path = out_dir / f"{name}.json"
        path.write_text(render(dash), encoding="utf-8")
        paths.append(path)
    return paths


def load(dashboards_dir: Path) -> list[JSON]:
    """The dashboard models in a directory (as ``build`` wrote them), by file name."""
    return [json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(dashboards_dir.glob("*.json"))]


def queries(dashboard: JSON) -> Iterator[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every PromQL target of every panel."""
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield panel["title"], target
