"""Prometheus rule and Alertmanager export: golden files, exact thresholds, and the
real promtool (check + unit tests at the reference times) and amtool."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.amconfig import (
    CREDENTIALS_FILE_PLACEHOLDER,
    render_alertmanager,
    webhook_url,
)
from alerting.promrules import (
    RULES_FILE,
    RuleOptions,
    render_rules,
    skipped_burn_rules,
)
from alerting.rulefiles import write_rules
from slaguard.config import load_config
from slaguard.config.schema import Config, Heartbeat
from slo.burn import DEFAULT_RULES, WINDOWS
from tests.config.test_config import EXAMPLE, EXAMPLE_ENV
from tests.conftest import check_golden, require_binary

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
PROMTOOL_TESTS = sorted((HERE / "promtool").glob("*.yml"))


@pytest.fixture(scope="module")
def cfg() -> Config:
    loaded, _ = load_config(EXAMPLE, env=EXAMPLE_ENV)
    return loaded


def replace(cfg: Config, *, confirm: int | None = None, quorum: Any = None,
            no_data: str | None = None, **top: Any) -> Config:
    """A copy of ``cfg`` with availability settings or top-level fields replaced."""
    avail = {k: v for k, v in (("confirm", confirm), ("quorum", quorum), ("no_data", no_data))
             if v is not None}
    if avail:
        top["availability"] = cfg.availability.model_copy(update=avail)
    return cfg.model_copy(update=top)


def confirm1_variant(cfg: Config) -> Config:
    """Every failure counts, web-home probed every 15 s (slow_burn.yml)."""
    web = cfg.targets[0].model_copy(update={"interval": timedelta(seconds=15)})
    assert web.name == "web-home"
    return replace(cfg, confirm=1, targets=[web, *cfg.targets[1:]])


def rules_doc(text: str) -> list[dict[str, Any]]:
    groups = yaml.safe_load(text)["groups"]
    assert [g["name"] for g in groups] == ["slaguard", "slaguard-self"]
    return list(groups[0]["rules"])


def alerts(rules: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in rules if r.get("alert") == name]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=110, check=False)


# -- golden files -------------------------------------------------------------------


def test_rules_golden(cfg: Config, update_golden: bool) -> None:
    check_golden(GOLDEN / "slaguard-rules.yml", render_rules(cfg), update_golden)


def test_alertmanager_golden(cfg: Config, update_golden: bool) -> None:
    check_golden(GOLDEN / "alertmanager.yml", render_alertmanager(cfg), update_golden)


def test_write_rules_writes_both_files(cfg: Config, tmp_path: Path) -> None:
    paths = write_rules(cfg, tmp_path / "out")
    assert [p.name for p in paths] == ["slaguard-rules.yml", "alertmanager.yml"]
    assert paths[0].read_text(encoding="utf-8") == render_rules(cfg)
    assert paths[1].read_text(encoding="utf-8") == render_alertmanager(cfg)


def test_a_file_holding_the_token_is_private(cfg: Config, tmp_path: Path) -> None:
    with_token = replace(cfg, server=cfg.server.model_copy(update={"api_token": "s3cret"}))
    _, am = write_rules(with_token, tmp_path)
    assert "credentials: s3cret" in am.read_text(encoding="utf-8")
    assert stat.S_IMODE(am.stat().st_mode) == 0o600


# -- the rules' content ---------------------------------------------------------------------


def test_burn_thresholds_are_exact_decimals(cfg: Config) -> None:
    text = render_rules(cfg)
    got: dict[tuple[str, str], set[str]] = {}
    for r in alerts(rules_doc(text), "SlaguardErrorBudgetBurn"):
        key = (r["labels"]["service"], r["labels"]["burn_rate"])
        got[key] = set(re.findall(r"> (\S+)\n", r["expr"]))
    assert got == {
        ("core", "14.4"): {"0.0144"}, ("core", "6"): {"0.006"},
        ("core", "3"): {"0.003"}, ("core", "1"): {"0.001"},
        ("storage", "14.4"): {"0.00144"}, ("storage", "6"): {"0.0006"},
        ("storage", "3"): {"0.0003"}, ("storage", "1"): {"0.0001"},
        ("backup", "14.4"): {"0.0072"}, ("backup", "6"): {"0.003"},
        ("backup", "3"): {"0.0015"}, ("backup", "1"): {"0.0005"},
    }
    # No float artefacts anywhere (0.0009999999999999432, 0.014400000000000001).
    assert not re.search(r"\d\.\d*(0{6,}|9{6,})\d", text)


def test_burn_tiers_windows_and_priorities(cfg: Config) -> None:
    core = [r for r in alerts(rules_doc(render_rules(cfg)), "SlaguardErrorBudgetBurn")
            if r["labels"]["service"] == "core"]
    assert [(r["labels"]["long"], r["labels"]["short"], r["labels"]["severity"],
             r["labels"]["priority"]) for r in core] == [
        ("1h", "5m", "page", "P1"), ("6h", "30m", "page", "P2"),
        ("1d", "2h", "ticket", "P3"), ("3d", "6h", "ticket", "P4")]
    first = core[0]
    assert "slaguard:service_error_ratio:rate1h{service=\"core\"} > 0.0144" in first["expr"]
    assert "slaguard:service_error_ratio:rate5m{service=\"core\"} > 0.0144" in first["expr"]
    # The confirmation gate looks over the short window.
    assert "max_over_time(slaguard:service_confirmed_down:quorum{service=\"core\"}[5m]) == 1" \
        in first["expr"]
    assert "for" not in first  # the short window is the debounce
    assert "用去 30 天预算的 2 %" in first["annotations"]["description"]
    assert "uses 2 % of a 30-day budget" in first["annotations"]["description"]


def test_priority_mapping_is_a_parameter(cfg: Config) -> None:
    swapped = dict(zip(DEFAULT_RULES, ("P2", "P1", "P4", "P3"), strict=True))
    core = [r for r in alerts(rules_doc(render_rules(cfg, RuleOptions(priorities=swapped))),
                              "SlaguardErrorBudgetBurn") if r["labels"]["service"] == "core"]
    assert [(r["labels"]["burn_rate"], r["labels"]["priority"], r["labels"]["severity"])
            for r in core] == [("14.4", "P2", "page"), ("6", "P1", "page"),
                               ("3", "P4", "ticket"), ("1", "P3", "ticket")]


def test_recorded_series_names_and_windows(cfg: Config) -> None:
    rules = rules_doc(render_rules(cfg))
    records = [r["record"] for r in rules if "record" in r]
    assert all(re.fullmatch(r"slaguard:[a-z_]+:[a-z0-9_]+", n) for n in records), records
    ratios = [r for r in rules if r.get("record", "").startswith("slaguard:service_error_ratio:")]
    assert [r["record"].rsplit(":", 1)[1] for r in ratios] == [f"rate{w}" for w in WINDOWS]
    assert list(WINDOWS) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    # Half the 15 s evaluation interval keeps samples off the window edges.
    assert ratios[0]["expr"] == "avg_over_time(slaguard:service_down:quorum[5m] offset 7500ms)"


def test_state_rules_follow_the_availability_policy(cfg: Config) -> None:
    rules = rules_doc(render_rules(cfg))
    by_record = {r["record"]: r["expr"] for r in rules if "record" in r}
    assert by_record["slaguard:target_down:quorum"].startswith(
        "2 * sum by (service, target) (probe_success{target=~\"api-health|backup-freshness|"
        "storage-read|upload-10mb|web-home\"} == bool 0)\n  > bool count by (service, target)")
    # confirm: 2 → two intervals of each target.
    confirm = by_record["slaguard:probe_success:max_over_time_confirm"]
    assert "max_over_time(probe_success{target=\"storage-read\"}[30s])" in confirm
    assert "max_over_time(probe_success{target=~\"api-health|web-home\"}[1m])" in confirm
    assert "max_over_time(probe_success{target=\"upload-10mb\"}[30m])" in confirm
    # no_data: up → a service nobody can judge counts as up.
    service = [r for r in rules if r.get("record") == "slaguard:service_down:quorum"]
    assert [(r["labels"]["service"], r["expr"]) for r in service] == [
        ("core", "max(slaguard:target_down:quorum{service=\"core\"}) or vector(0)"),
        ("storage", "max(slaguard:target_down:quorum{service=\"storage\"}) or vector(0)"),
        ("backup", "max(slaguard:target_down:quorum{service=\"backup\"}) or vector(0)")]


CORE_DOWN = 'max(slaguard:target_down:quorum{service="core"})'
# variant → (availability settings, fragments the rules must hold, fragments they must not)
VARIANTS: dict[str, tuple[dict[str, Any], list[str], list[str]]] = {
    "quorum any": ({"quorum": "any"}, ["(probe_success{", " == bool 0) >= bool 1"],
                   ["2 * sum"]),
    "quorum all": ({"quorum": "all"}, [">= bool count by (service, target) (probe_success{"],
                   ["2 * sum"]),
    "quorum 2": ({"quorum": 2}, [" == bool 0) >= bool 2"], ["2 * sum"]),
    "no_data down": ({"no_data": "down"}, [f"{CORE_DOWN} or vector(1)"], ["or vector(0)"]),
    "no_data exclude": ({"no_data": "exclude"}, [f"expr: {CORE_DOWN}\n"], ["or vector("]),
    "confirm 1": ({"confirm": 1}, ["max_over_time_confirm\n    expr: probe_success{target=~"],
                  ["max_over_time(probe_success"]),
    "confirm 3": ({"confirm": 3}, ['max_over_time(probe_success{target="storage-read"}[45s])'],
                  []),
}


@pytest.mark.integration
@pytest.mark.parametrize("variant", VARIANTS)
def test_promtool_accepts_every_policy_variant(cfg: Config, tmp_path: Path, variant: str) -> None:
    promtool = require_binary("promtool")
    update, present, absent = VARIANTS[variant]
    text = render_rules(replace(cfg, **update))
    assert [f for f in present if f not in text] == []
    assert [f for f in absent if f in text] == []
    path = tmp_path / RULES_FILE
    path.write_text(text, encoding="utf-8")
    done = run(promtool, "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 45 rules found" in done.stdout


def test_down_when_all_takes_the_minimum(cfg: Config) -> None:
    services = dict(cfg.services)
    services["core"] = services["core"].model_copy(update={"down_when": "all"})
    rules = rules_doc(render_rules(replace(cfg, services=services)))
    core = [r["expr"] for r in rules if r.get("labels", {}).get("service") == "core"
            and r.get("record", "").startswith("slaguard:service_")]
    assert core == [
        "min(slaguard:target_down:quorum{service=\"core\"}) or vector(0)",
        "min(slaguard:target_confirmed_down:quorum{service=\"core\"}) or vector(0)"]
    down = alerts(rules, "SlaguardServiceDown")[0]
    assert "of every availability target" in down["annotations"]["description"]


def test_tiers_that_cannot_fire_are_left_out(cfg: Config) -> None:
    services = dict(cfg.services)
    services["core"] = services["core"].model_copy(update={"availability": Decimal("90")})
    low = replace(cfg, services=services)
    # The largest burn rate at 90 % is 10: 14.4 never fires; 6 needs 60 % errors.
    assert [(s, r.factor) for s, r in skipped_burn_rules(low)] == [("core", Decimal("14.4"))]
    text = render_rules(low)
    assert "# Not generated, threshold ≥ 100 % (can never fire): core 14.4× (1h, 5m)." in text
    core = [r["labels"]["burn_rate"] for r in alerts(rules_doc(text), "SlaguardErrorBudgetBurn")
            if r["labels"]["service"] == "core"]
    assert core == ["6", "3", "1"]
    assert "rate6h{service=\"core\"} > 0.6\n" in text


def test_silence_and_certificate_alerts(cfg: Config) -> None:
    rules = rules_doc(render_rules(cfg))
    silent = {r["labels"]["target"]: r for r in alerts(rules, "SlaguardProbeSilent")}
    assert list(silent) == ["web-home", "api-health", "upload-10mb", "storage-read",
                            "backup-freshness"]
    # 3 intervals, never under 2m: 30 s → 2m, 15 m → 45m, 5 m → 15m.
    assert "location=\"beijing\"}[2m])" in silent["web-home"]["expr"]
    assert "location=\"shenzhen\"}[45m])" in silent["upload-10mb"]["expr"]
    assert "location=\"shanghai\"}[15m])" in silent["backup-freshness"]["expr"]
    assert silent["web-home"]["expr"].count("absent_over_time") == 3
    assert silent["web-home"]["labels"] == {"severity": "ticket", "priority": "P3",
                                            "service": "core", "target": "web-home"}
    (cert,) = alerts(rules, "SlaguardCertificateExpiry")
    assert cert["expr"].endswith("- time() < 1209600")  # 14 days
    assert cert["labels"] == {"severity": "ticket", "priority": "P3"}
    (down,) = [r for r in alerts(rules, "SlaguardServiceDown") if r["labels"]["service"] == "core"]
    assert down["expr"] == "slaguard:service_confirmed_down:quorum{service=\"core\"} == 1"
    assert down["labels"] == {"severity": "page", "priority": "P1", "service": "core"}


# -- promtool -------------------------------------------------------------------------------


@pytest.mark.integration
def test_promtool_check_rules(cfg: Config, tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    (rules, _) = write_rules(cfg, tmp_path)
    done = run(promtool, "check", "rules", str(rules))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 45 rules found" in done.stdout
    assert "lint" not in done.stdout + done.stderr  # e.g. duplicate rules


@pytest.mark.integration
@pytest.mark.parametrize("unit", PROMTOOL_TESTS, ids=lambda p: p.stem)
def test_promtool_unit_tests(cfg: Config, tmp_path: Path, unit: Path) -> None:
    """The reference-time scenarios in tests/alerting/promtool/ against the generated rules."""
    promtool = require_binary("promtool")
    write_rules(cfg, tmp_path)
    (tmp_path / "slaguard-rules-confirm1.yml").write_text(
        render_rules(confirm1_variant(cfg)), encoding="utf-8")
    shutil.copy(unit, tmp_path / unit.name)
    done = run(promtool, "test", "rules", str(tmp_path / unit.name))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_promtool_scenarios_are_all_here() -> None:
    assert [p.stem for p in PROMTOOL_TESTS] == [
        "blips", "fast_burn", "probes", "quorum", "self", "self_health", "slow_burn"]


# -- Alertmanager -----------------------------------------------------------------------------


def test_alertmanager_routes(cfg: Config) -> None:
    doc = yaml.safe_load(render_alertmanager(cfg))
    route = doc["route"]
    assert route["group_by"] == ["alertname", "service"]
    watchdog, guard, *by_priority = route["routes"]
    assert watchdog == {"receiver": "heartbeat", "matchers": ['alertname="Watchdog"'],
                        "group_wait": "0s", "group_interval": "1m", "repeat_interval": "1m"}
    assert guard == {"receiver": "discard", "matchers": ['incident=~".+"']}
    timing = {r["matchers"][0]: (r["receiver"], r["group_wait"], r["group_interval"],
                                 r["repeat_interval"]) for r in by_priority}
    # repeat_interval = the priority's response time in the configuration.
    assert timing == {
        'priority="P1"': ("slaguard", "10s", "1m", "15m"),
        'priority="P2"': ("slaguard", "30s", "2m", "30m"),
        'priority="P3"': ("slaguard", "1m", "5m", "2h"),
        'priority="P4"': ("slaguard", "5m", "15m", "8h"),
    }
    (hook,) = doc["receivers"][0]["webhook_configs"]
    assert hook["url"] == "http://127.0.0.1:9108/api/v1/alertmanager"
    assert hook["send_resolved"] is True
    assert hook["http_config"] == {"authorization": {
        "type": "Bearer", "credentials_file": CREDENTIALS_FILE_PLACEHOLDER}}
    assert doc["inhibit_rules"] == [{
        "source_matchers": ['severity="page"',
                            'alertname=~"SlaguardServiceDown|SlaguardErrorBudgetBurn"'],
        "target_matchers": ['severity="ticket"', 'alertname="SlaguardErrorBudgetBurn"'],
        "equal": ["service"]}]


def test_alertmanager_repeat_follows_the_response_time(cfg: Config) -> None:
    prios = dict(cfg.incidents.priorities)
    prios["P1"] = prios["P1"].model_copy(update={"respond": timedelta(seconds=10)})
    prios["P2"] = prios["P2"].model_copy(update={"respond": timedelta(minutes=5)})
    del prios["P4"]
    conf = replace(cfg, incidents=cfg.incidents.model_copy(update={"priorities": prios}))
    routes = yaml.safe_load(render_alertmanager(conf))["route"]["routes"][2:]
    # P1: never below its 1m group_interval; P4: not configured, the default 8h.
    assert [r["repeat_interval"] for r in routes] == ["1m", "5m", "2h", "8h"]


def test_alertmanager_credentials(cfg: Config) -> None:
    with_token = replace(cfg, server=cfg.server.model_copy(update={"api_token": "s3cret"}))
    auth = yaml.safe_load(render_alertmanager(with_token))["receivers"][0]["webhook_configs"][0][
        "http_config"]["authorization"]
    assert auth == {"type": "Bearer", "credentials": "s3cret"}
    chosen = yaml.safe_load(render_alertmanager(with_token, credentials_file="/run/tok"))
    assert chosen["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"] == {
        "type": "Bearer", "credentials_file": "/run/tok"}


@pytest.mark.parametrize(("listen", "url"), [
    ("127.0.0.1:9108", "http://127.0.0.1:9108/api/v1/alertmanager"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080/api/v1/alertmanager"),
    (":8080", "http://127.0.0.1:8080/api/v1/alertmanager"),
    ("[::1]:9108", "http://[::1]:9108/api/v1/alertmanager"),
    ("slaguard:9108", "http://slaguard:9108/api/v1/alertmanager"),
])
def test_webhook_url_from_listen(cfg: Config, listen: str, url: str) -> None:
    assert webhook_url(replace(cfg, server=cfg.server.model_copy(update={"listen": listen}))) == url


@pytest.mark.integration
@pytest.mark.parametrize("token", [None, "s3cret"])
def test_amtool_check_config(cfg: Config, tmp_path: Path, token: str | None) -> None:
    amtool = require_binary("amtool")
    conf = replace(cfg, server=cfg.server.model_copy(update={"api_token": token}))
    _, am = write_rules(conf, tmp_path)
    done = run(amtool, "check-config", str(am))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    assert " - 1 inhibit rules" in done.stdout and " - 3 receivers" in done.stdout


@pytest.mark.integration
@pytest.mark.parametrize(("labels", "receiver"), [
    (["priority=P1", "alertname=SlaguardServiceDown", "service=core"], "slaguard"),
    (["priority=P4", "alertname=SlaguardErrorBudgetBurn", "service=backup"], "slaguard"),
    (["priority=P1", "incident=INC-42", "service=core"], "discard"),  # slaguard's own
    (["alertname=Watchdog", "severity=none"], "heartbeat"),  # the dead man's switch
    (["priority=P2", "alertname=SlaguardEvaluationFailing", "service=slaguard"], "slaguard"),
    (["alertname=SomethingElse"], "discard"),
])
def test_amtool_routes_by_priority(cfg: Config, tmp_path: Path, labels: list[str],
                                   receiver: str) -> None:
    amtool = require_binary("amtool")
    _, am = write_rules(cfg, tmp_path)
    done = run(amtool, "config", "routes", "test", f"--config.file={am}", *labels)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == receiver


def test_the_watchdog_goes_to_the_configured_dead_mans_switch(cfg: Config) -> None:
    conf = cfg.model_copy(update={"heartbeat": Heartbeat(
        url="https://hc-ping.com/slaguard", watchdog_url="https://hc-ping.com/watchdog")})
    doc = yaml.safe_load(render_alertmanager(conf))
    receivers = {r["name"]: r for r in doc["receivers"]}
    assert receivers["heartbeat"] == {"name": "heartbeat", "webhook_configs": [
        {"url": "https://hc-ping.com/watchdog", "send_resolved": False}]}
    assert "heartbeat.watchdog_url" not in render_alertmanager(conf)
    # Without a URL the receiver is there, empty, and the header says what to fill in.
    plain = render_alertmanager(cfg.model_copy(update={"heartbeat": Heartbeat()}))
    assert {"name": "heartbeat"} in yaml.safe_load(plain)["receivers"]
    assert "set heartbeat.watchdog_url" in plain


def test_self_alerts_share_slaguards_own_rule_names_and_thresholds(cfg: Config) -> None:
    """A self alert from Prometheus joins the incident slaguard's own rule opened: the
    Alertmanager webhook takes the incident rule from the ``rule`` label."""
    (self_group,) = [g for g in yaml.safe_load(render_rules(cfg))["groups"]
                     if g["name"] == "slaguard-self"]
    by_name = {r["alert"]: r for r in self_group["rules"]}
    assert {n: r["labels"].get("rule") for n, r in by_name.items()} == {
        "SlaguardRecordNotCommitting": None, "SlaguardResultsDropped": None,
        "SlaguardProbesLate": "probes_late", "SlaguardWorkerRestarting": "worker_restarting",
        "SlaguardEvaluationFailing": "evaluation_failing",
        "SlaguardOutboxBacklog": "outbox_backlog", "SlaguardChannelFailing": "channel_failing",
        "Watchdog": None}
    assert by_name["Watchdog"] == {**by_name["Watchdog"], "expr": "vector(1)",
                                   "labels": {"severity": "none"}}
    for name, rule in by_name.items():
        assert "Runbook: " in rule["annotations"]["description"], name
    # evaluate_every (60 s) × 3 rounds, as slaguard's own rule counts them.
    assert "> 180\n" in by_name["SlaguardEvaluationFailing"]["expr"]
    assert 'le="1.0"' in by_name["SlaguardProbesLate"]["expr"]
