"""The docker-compose stack, checked with the real tools (no Docker engine runs here).

``docker-compose config`` validates the compose file (Debian's docker-compose
1.29, Compose Specification without ``version:``), ``promtool check config``
the Prometheus config with the rule file ``slaguard rules`` generates from the
stack's slaguard config, and ``amtool check-config`` the Alertmanager config
generated beside it.  The rest checks that the pieces name each other right.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.amconfig import ALERTMANAGER_FILE
from alerting.promrules import RULES_FILE
from exporters.scrape_config import scrape_job
from slaguard.cli import main
from slaguard.config import Config, load_config
from tests.conftest import ROOT, require_binary

DEPLOY = ROOT / "deploy"
COMPOSE = ROOT / "docker-compose.yml"


def env_file(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def stack_config() -> Config:
    cfg, warnings = load_config(DEPLOY / "slaguard.yaml",
                                env=env_file(DEPLOY / "influxdb-client.env"))
    assert warnings == []
    return cfg


def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Bind mounts and volumes, source → target (``source:target[:mode]``)."""
    return dict(v.split(":")[:2] for v in service.get("volumes", []))


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of deploy/prometheus.yml beside rules/, written by the command the compose
    service `rules` runs (with the environment compose gives it)."""
    shutil.copy(DEPLOY / "prometheus.yml", tmp_path / "prometheus.yml")
    for key, value in env_file(DEPLOY / "influxdb-client.env").items():
        monkeypatch.setenv(key, value)
    command = compose()["services"]["rules"]["command"]
    assert command[:2] == ["slaguard", "rules"]
    args = [str(DEPLOY / "slaguard.yaml") if a == "/etc/slaguard/slaguard.yaml"
            else str(tmp_path / "rules") if a == "/rules" else a for a in command[1:]]
    assert main(args) == 0
    return tmp_path


def test_docker_compose_config_accepts_the_file() -> None:
    binary = require_binary("docker-compose")
    done = run([binary, "-f", str(COMPOSE), "config"], ROOT)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert set(services) == {"rules", "slaguard", "demo", "prometheus", "alertmanager",
                             "grafana", "influxdb", "locust-worker"}
    # Capacity runs' distributed Locust workers start only with --profile load.
    assert services["locust-worker"]["profiles"] == ["load"]
    # Every bind-mounted file or directory it names exists, except the generated rules/.
    sources = {Path(s) for svc in services.values() for s in mounts(svc) if s.startswith("/")}
    assert {p for p in sources if not p.exists()} <= {ROOT / "rules"}


def test_promtool_accepts_the_prometheus_config_with_the_generated_rules(
        generated: Path) -> None:
    promtool = require_binary("promtool")
    done = run([promtool, "check", "config", str(generated / "prometheus.yml")], generated)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rules/{RULES_FILE}" in done.stdout and "SUCCESS" in done.stdout


def test_amtool_accepts_the_generated_alertmanager_config(generated: Path) -> None:
    amtool = require_binary("amtool")
    path = generated / "rules" / ALERTMANAGER_FILE
    done = run([amtool, "check-config", str(path)], generated)
    assert done.returncode == 0, done.stdout + done.stderr
    am = yaml.safe_load(path.read_text(encoding="utf-8"))
    (hook,) = next(r for r in am["receivers"] if r["name"] == "slaguard")["webhook_configs"]
    # Inside the stack, slaguard is reached by its service name.
    assert hook["url"] == "http://slaguard:9108/api/v1/alertmanager"
    credentials = hook["http_config"]["authorization"].get("credentials_file")
    if credentials:  # the compose file mounts it
        targets = mounts(compose()["services"]["alertmanager"]).values()
        assert credentials in targets


def test_the_pieces_name_each_other() -> None:
    services = compose()["services"]
    cfg = stack_config()
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    scrape = {t for job in prom["scrape_configs"] for sc in job["static_configs"]
              for t in sc["targets"]}
    # /metrics from the internal listener, as the scrape job `slaguard rules` writes says.
    assert cfg.server.internal_listen in scrape
    [job] = scrape_job(cfg)["scrape_configs"]
    assert job["static_configs"] == [{"targets": [cfg.server.internal_listen]}]
    assert "authorization" not in job
    assert services["slaguard"]["hostname"] == cfg.server.host == "slaguard"
    assert prom["rule_files"] == [f"rules/{RULES_FILE}"]
    assert mounts(services["prometheus"])["./rules"] == "/etc/prometheus/rules"
    assert mounts(services["rules"])["./rules"] == "/rules"
    assert services["rules"]["command"][-2:] == ["-o", "/rules"]
    am_cmd = services["alertmanager"]["command"]
    assert f"--config.file=/etc/alertmanager/rules/{ALERTMANAGER_FILE}" in am_cmd
    config_path = "/etc/slaguard/slaguard.yaml"
    for name in ("rules", "slaguard"):
        assert mounts(services[name])["./deploy/slaguard.yaml"] == config_path
    assert services["slaguard"]["command"] == ["slaguard", "run", "-c", config_path]
    # Every probe goes to the demo service, which listens on 8080.
    assert {t.url.split("/")[2] for t in cfg.targets} == {"demo:8080"}
    assert services["demo"]["expose"] == ["8080"]


def test_influxdb_setup_and_its_clients_agree() -> None:
    init, client = env_file(DEPLOY / "influxdb.env"), env_file(DEPLOY / "influxdb-client.env")
    assert init["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert (client["INFLUX_ORG"], client["INFLUX_BUCKET"], client["INFLUX_TOKEN"]) == (
        init["DOCKER_INFLUXDB_INIT_ORG"], init["DOCKER_INFLUXDB_INIT_BUCKET"],
        init["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"])
    assert "DOCKER_INFLUXDB_INIT_PASSWORD" not in client  # the password stays with InfluxDB
    influx = stack_config().exporters.influxdb
    assert (influx.url, influx.org, influx.bucket, influx.token) == (
        client["INFLUX_URL"], client["INFLUX_ORG"], client["INFLUX_BUCKET"],
        client["INFLUX_TOKEN"])
    services = compose()["services"]
    assert services["influxdb"]["env_file"] == "deploy/influxdb.env"
    assert services["grafana"]["env_file"] == services["slaguard"]["env_file"] == \
        "deploy/influxdb-client.env"


def test_the_image_installs_the_font_the_lock_and_slaguard() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert text.count("\nFROM python:3.11-slim") == 1
    for needle in ("fonts-noto-cjk", "libpango-1.0-0", "pip install --no-cache-dir -r "
                   "requirements.lock", "pip install --no-cache-dir --no-deps .",
                   'CMD ["slaguard", "run", "-c", "/etc/slaguard/slaguard.yaml"]'):
        assert needle in text
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "tests"} <= set(ignored)
