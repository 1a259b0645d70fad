"""The scrape job `slaguard rules -o DIR` writes for /metrics, checked by a real promtool.

(A real Prometheus runs it, token and all, in tests/integration/test_prometheus_scrape.py.)"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from slaguard.cli import main
from tests.conftest import require_binary

BASE = """\
version: 1
storage: {{path: "{db}"}}
server: {server}
services: {{core: {{availability: 99.9%}}}}
targets:
  - {{name: web, service: core, kind: http, url: "http://127.0.0.1:9/"}}
"""


def rules(tmp_path: Path, server: str) -> Path:
    cfg = tmp_path / "slaguard.yaml"
    cfg.write_text(BASE.format(db=tmp_path / "s.db", server=server), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["rules", "-c", str(cfg), "-o", str(out)]) == 0
    return out / "prometheus-scrape.yml"


@pytest.mark.parametrize(("server", "job", "private"), [
    ('{listen: "0.0.0.0:9108", metrics_token: "scrape-s3cret"}',
     {"targets": ["127.0.0.1:9108"],
      "authorization": {"type": "Bearer", "credentials": "scrape-s3cret"}}, True),
    ('{listen: "10.0.0.5:9108", internal_listen: "10.0.1.5:9109", metrics_token: "x"}',
     {"targets": ["10.0.1.5:9109"]}, False),
    ('{listen: "10.0.0.5:9108", api_token: "staff-never-here"}',
     {"targets": ["10.0.0.5:9108"], "authorization": {
         "type": "Bearer", "credentials_file": "/etc/prometheus/slaguard-metrics-token"}},
     False),
], ids=["metrics-token", "internal-listener", "no-metrics-token"])
def test_the_job_scrapes_with_the_narrowest_credentials(
        tmp_path: Path, server: str, job: dict[str, object], private: bool) -> None:
    path = rules(tmp_path, server)
    text = path.read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    [got] = doc["scrape_configs"]
    assert got["job_name"] == "slaguard" and got["metrics_path"] == "/metrics"
    assert got["static_configs"] == [{"targets": job["targets"]}]
    assert got.get("authorization") == job.get("authorization")
    assert doc["rule_files"] == ["slaguard-rules.yml"]
    assert "staff-never-here" not in text  # a staff token never lands in Prometheus's file
    assert (stat.S_IMODE(path.stat().st_mode) == 0o600) is private


@pytest.mark.integration
def test_promtool_accepts_the_scrape_configuration(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    path = rules(tmp_path, '{listen: "127.0.0.1:9108", metrics_token: "scrape-s3cret"}')
    done = subprocess.run([promtool, "check", "config", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
