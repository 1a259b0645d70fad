"""Configuration: the reference example loads; each rule has its own invalid file."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from slaguard.cli import main
from slaguard.config import ConfigError, load_config, parse_config
from slaguard.config.schema import TARGET_KINDS, Config
from tests.conftest import REFERENCE_CONFIG

EXAMPLE = REFERENCE_CONFIG
INVALID = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))
EXAMPLE_ENV = {k: f"v-{k.lower()}" for k in (
    "API_TOKEN", "SMTP_PASSWORD", "DINGTALK_TOKEN", "DINGTALK_SECRET", "WECOM_KEY",
    "FEISHU_HOOK", "FEISHU_SECRET", "ACME_PORTAL_TOKEN", "INFLUX_TOKEN",
)}


def expected_errors(path: Path) -> list[str]:
    """The file's leading ``# error: …`` lines, in the order they are reported."""
    # not-utf8.yaml holds a Latin-1 byte on purpose; its ``# error:`` lines are ASCII
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    assert lines[0].startswith("# error: "), f"{path.name}: first line must be '# error: ...'"
    return [x.removeprefix("# error: ") for x in lines if x.startswith("# error: ")]


def test_reference_example_loads_as_it_stands() -> None:
    cfg, warnings = load_config(EXAMPLE, env=EXAMPLE_ENV)
    assert warnings == []
    assert cfg.timezone == "Asia/Shanghai"
    assert cfg.services["core"].availability == Decimal("99.9")
    assert cfg.services["storage"].availability == Decimal("99.99")
    assert [t.name for t in cfg.targets] == [
        "web-home", "api-health", "upload-10mb", "storage-read", "backup-freshness"]
    web, api, upload = cfg.targets[0], cfg.targets[1], cfg.targets[2]
    assert web.interval == timedelta(seconds=30) and web.timeout == timedelta(seconds=10)
    assert api.headers == {"Authorization": "Bearer v-api_token"}
    assert api.expect.json_ == {"$.status": "ok"}
    assert upload.kind == "upload" and upload.size == 10 * 1024 * 1024
    assert cfg.availability.confirm == 2 and cfg.availability.quorum == "majority"
    assert cfg.incidents.priorities["P1"].escalate_after == timedelta(minutes=30)
    assert cfg.channels["oncall"].url.endswith("access_token=v-dingtalk_token")
    assert cfg.compensation.response.tiers[-1] == (None, Decimal(20))
    assert cfg.compensation.data_loss.tiers[0] == (timedelta(hours=1), Decimal(50))
    assert cfg.customers[0].monthly_fee == Decimal("12000.00")
    assert cfg.maintenance[0].announced is not None


def test_example_without_env_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(EXAMPLE, env={})
    assert "targets[1].headers.Authorization: environment variable API_TOKEN is not set" \
        in exc.value.errors
    assert len(exc.value.errors) == 10


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_file_gives_its_exact_message(path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    errors = [e.removeprefix(f"{path}: ") for e in exc.value.errors]
    assert errors == expected_errors(path)


def test_all_errors_are_reported_together() -> None:
    raw = {"version": 1, "services": {"core": {"availability": "99.9%"}}, "targets": [
        {"name": "a", "service": "x", "kind": "http", "url": "http://a/", "interval": "5s",
         "timeout": "5s"},
        {"name": "b", "service": "core", "kind": "http", "url": "http://b/", "bogus": 1},
    ]}
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, env={})
    assert exc.value.errors == ["targets[1].bogus: unknown key",  # the schema's first
                                "targets[0].service: unknown service 'x'",
                                "targets[0].timeout: must be shorter than interval"]


def test_env_default_and_escape() -> None:
    raw = {"version": 1, "services": {"core": {"availability": "99.9%"}}, "targets": [
        {"name": "a", "service": "core", "kind": "http",
         "url": "http://${HOST:-localhost}:8080/$${literal}"}]}
    cfg, _ = parse_config(raw, env={})
    assert cfg.targets[0].url == "http://localhost:8080/${literal}"


def test_daily_backup_cannot_meet_hourly_rpo_is_a_warning() -> None:
    raw = {"version": 1, "services": {"backup": {"availability": "99.95%"}}, "targets": [
        {"name": "bk", "service": "backup", "kind": "freshness", "url": "http://o/latest",
         "timestamp_field": "$.finished_at", "interval": "5m", "backup_every": "24h"}],
        "slos": [{"name": "rpo", "targets": ["bk"], "freshness": "1h"}]}
    _, warnings = parse_config(raw, env={})
    assert warnings == [
        "slos[0].freshness: a backup every 1d cannot give an RPO below 1h (worst case ≈ 1d + "
        "backup duration); measure WAL archiving or replication lag instead"]


def test_registry_matches_schema_union() -> None:
    from probes import PROBES

    assert set(PROBES) == set(TARGET_KINDS)
    union = Config.model_fields["targets"].annotation
    assert union is not None


def test_check_config_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in EXAMPLE_ENV.items():
        monkeypatch.setenv(k, v)
    assert main(["check-config", "-c", str(EXAMPLE)]) == 0
    assert "ok (5 targets, 3 services, 1 customers)" in capsys.readouterr().out
    bad = Path(__file__).parent / "invalid" / "timeout-not-shorter.yaml"
    assert main(["check-config", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "1 error(s)" in err and "targets[0].timeout: must be shorter than interval" in err


def test_any_broken_example_is_a_config_error_never_a_crash() -> None:
    """The partial re-validation (schema errors, then the checks on the rest) holds for
    whatever a file holds: values of every wrong type, keys misspelt, several at once."""
    import copy
    import random

    import yaml

    base = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    junk: list[object] = [None, 0, -1, 99999, "x", "", "1x", [], {}, [1], {"a": 1}, True,
                          3.5, "99.9", "${NOPE}"]

    def paths(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        items = (node.items() if isinstance(node, dict)
                 else enumerate(node) if isinstance(node, list) else [])
        return [path] + [p for k, v in items for p in paths(v, (*path, k))]

    every = paths(base)[1:]
    rnd = random.Random(13)
    for _ in range(400):
        doc = copy.deepcopy(base)
        for _ in range(rnd.randint(1, 4)):
            *head, last = rnd.choice(every)
            node = doc
            try:
                for part in head:
                    node = node[part]  # type: ignore[index]
                node[last]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change replaced what held it
            if isinstance(node, dict) and rnd.random() < 0.2:
                node[f"{last}x"] = node.pop(last)  # a misspelt key
            else:
                node[last] = rnd.choice(junk)  # type: ignore[index]
        try:
            parse_config(doc, env=EXAMPLE_ENV)
        except ConfigError as e:
            assert e.errors and all(": " in m for m in e.errors), e.errors
