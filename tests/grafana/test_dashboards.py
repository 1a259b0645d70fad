"""The dashboards as code: golden JSON, layout, variables, and agreement with provisioning."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.build import DEFAULT_DIR, build, dashboards, load, queries, render
from grafana.dashboards import (
    FOLDER_UID,
    INCIDENT_TAG,
    INFLUXDB_UID,
    MAINTENANCE_TAG,
    PROMETHEUS_UID,
    TAG,
)
from grafana.panels import GRID_WIDTH, iter_panels
from slaguard.config import parse_config
from tests.conftest import ROOT, check_golden

PROVISIONING = ROOT / "grafana" / "provisioning"
ALL = dashboards()


@pytest.mark.parametrize("name", sorted(ALL))
def test_dashboard_json_matches_the_committed_golden_file(name: str, update_golden: bool
                                                          ) -> None:
    check_golden(DEFAULT_DIR / f"{name}.json", render(ALL[name]), update_golden)


def test_build_writes_the_same_files(tmp_path: Path) -> None:
    paths = build(None, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["incidents.json", "probes.json",
                                             "sla-overview.json", "slaguard-itself.json"]
    for p in paths:
        assert p.read_text(encoding="utf-8") == (DEFAULT_DIR / p.name).read_text(
            encoding="utf-8")


def test_the_configuration_sets_time_zone_and_currency(tmp_path: Path) -> None:
    cfg, _ = parse_config({
        "version": 1, "timezone": "Europe/Berlin", "compensation": {"currency": "EUR"},
        "services": {"backup": {"availability": "99.9%"}},
        "targets": [{"name": "b", "service": "backup", "kind": "freshness",
                     "url": "http://ops/backups", "timestamp_field": "$.at"}],
        "slos": [{"name": "rpo", "targets": ["b"], "freshness": "30m"}]}, env={})
    build(cfg, tmp_path)
    sla = next(d for d in load(tmp_path) if d["uid"] == "slaguard-sla")
    assert sla["timezone"] == "Europe/Berlin"
    panels = {p["title"]: p for p in iter_panels(sla)}
    assert panels["Compensation exposure this month"]["fieldConfig"]["defaults"]["unit"] \
        == "suffix: EUR"
    rpo = panels["Backup recovery point age"]["fieldConfig"]["defaults"]["thresholds"]
    assert rpo["steps"][-1] == {"color": "red", "value": 1800}


def _overlaps(a: dict[str, int], b: dict[str, int]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


@pytest.mark.parametrize("name", sorted(ALL))
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    panels = ALL[name]["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for i, p in enumerate(panels):
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= GRID_WIDTH, p["title"]
        assert not [q["title"] for q in panels[i + 1:] if _overlaps(pos, q["gridPos"])]


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_query_uses_only_defined_variables_and_the_datasource_variable(name: str
                                                                            ) -> None:
    dash = ALL[name]
    defined = {v["name"] for v in dash["templating"]["list"]}
    builtins = {"__rate_interval", "__interval", "__range"}
    for title, target in queries(dash):
        used = set(re.findall(r"\$\{?(\w+)\}?", target["expr"]))
        assert used <= defined | builtins, f"{title}: {used - defined - builtins}"
        assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            assert re.fullmatch(r"label_values\(.+, \w+\)", v["query"]), v["query"]


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_panel_has_a_title_and_each_target_a_unique_ref_id(name: str) -> None:
    for p in iter_panels(ALL[name]):
        assert p["title"]
        refs = [t["refId"] for t in p.get("targets", [])]
        assert len(refs) == len(set(refs))


def test_annotations_query_the_tags_publish_posts() -> None:
    for dash in ALL.values():
        tags = [a["target"]["tags"] for a in dash["annotations"]["list"] if "target" in a]
        assert tags == [[TAG, MAINTENANCE_TAG], [TAG, INCIDENT_TAG]]


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_datasource_provisioning_has_the_uids_the_dashboards_use() -> None:
    sources = {d["type"]: d for d in _yaml(PROVISIONING / "datasources" / "slaguard.yaml")[
        "datasources"]}
    assert sources["prometheus"]["uid"] == PROMETHEUS_UID
    for dash in ALL.values():
        var = next(v for v in dash["templating"]["list"] if v["type"] == "datasource")
        assert var["current"]["value"] == PROMETHEUS_UID
    influx = sources["influxdb"]
    assert influx["uid"] == INFLUXDB_UID
    assert influx["jsonData"] == {"version": "Flux", "organization": "$INFLUX_ORG",
                                  "defaultBucket": "$INFLUX_BUCKET"}
    assert influx["secureJsonData"] == {"token": "$INFLUX_TOKEN"}
    # $__rate_interval builds on the scrape interval Grafana is told about.
    prom_cfg = _yaml(ROOT / "deploy" / "prometheus.yml")
    assert sources["prometheus"]["jsonData"]["timeInterval"] == \
        prom_cfg["global"]["scrape_interval"]


def test_dashboard_provider_reads_the_directory_compose_mounts() -> None:
    (provider,) = _yaml(PROVISIONING / "dashboards" / "slaguard.yaml")["providers"]
    assert provider["type"] == "file" and provider["folderUid"] == FOLDER_UID
    grafana = _yaml(ROOT / "docker-compose.yml")["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])  # source:target[:mode]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/sla-overview.json"


def test_the_slaguard_itself_board_shows_every_self_metric() -> None:
    """Each of slaguard's own metrics (exporters.self_metrics) is on the board."""
    exprs = " ".join(t["expr"] for _, t in queries(ALL["slaguard-itself"]))
    metrics = ["slaguard_probe_start_lateness_seconds_bucket", "slaguard_probes_skipped_total",
               "slaguard_worker_restarts_total", "slaguard_pipeline_queue_results",
               "slaguard_store_uncommitted_results", "slaguard_store_commit_failing",
               "slaguard_store_commit_duration_seconds_bucket",
               "slaguard_store_commit_failures_total", "slaguard_store_size_bytes",
               "slaguard_evaluation_duration_seconds_bucket",
               "slaguard_evaluation_failures_total",
               "slaguard_evaluation_last_success_timestamp_seconds",
               "slaguard_outbox_pending_notifications",
               "slaguard_outbox_oldest_pending_age_seconds",
               "slaguard_notification_failures_total", "slaguard_notifications_sent_total",
               "slaguard_heartbeat_up", "slaguard_build_info"]
    assert [name for name in metrics if name not in exprs] == []
