"""The capacity configuration's rules: one invalid file per rule (tests/config/invalid/
capacity-*.yaml) with its exact message, and what a valid job parses to.

``capacity_errors`` is one of the configuration's checks (``validate.CHECKS``); until
that line is in, these tests add it, so they judge the rules either way.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from slaguard.config import ConfigError, load_config, parse_config, validate
from slaguard.config.capacity import allowed, capacity_errors, host_of
from tests.config.test_config import expected_errors

INVALID = sorted((Path(__file__).parent.parent / "config" / "invalid").glob("capacity-*.yaml"))


@pytest.fixture(autouse=True)
def capacity_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    if not any(getattr(c, "__name__", "") == "capacity_errors" or "capacity" in repr(c)
               for c in validate.CHECKS):
        monkeypatch.setattr(validate, "CHECKS", (*validate.CHECKS, capacity_errors))


def test_there_is_a_file_per_rule() -> None:
    assert len(INVALID) >= 18


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_capacity_file_gives_its_exact_message(path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert [e.removeprefix(f"{path}: ") for e in exc.value.errors] == expected_errors(path)


def test_a_full_job_parses_to_its_units() -> None:
    cfg = parse_config({
        "version": 1, "services": {"core": {"availability": "99.9%"}},
        "targets": [{"name": "api", "service": "core", "kind": "http",
                     "url": "https://platform.example.com/api"}],
        "capacity": {
            "allow_hosts": ["platform.example.com"], "off_peak": "22:00-06:00",
            "generator": {"workers": 0, "max_cpu": "80%", "saturated_for": "5s"},
            "distributed": {"master_bind": "0.0.0.0:5557", "expected_workers": 3},
            "jobs": [{"name": "release", "targets": ["api"], "schedule": "30 23 * * 6",
                      "requests": [{"name": "search", "url": "https://platform.example.com/s",
                                    "weight": 3, "status": [200]}],
                      "profile": {"users": 5000, "spawn_rate": "8.5", "hold": "20m",
                                  "think_min": "5s", "think_max": "15s", "ramp_down": "2m"},
                      "thresholds": {"p95": "1s", "mean": "500ms", "error_rate": "1%",
                                     "endpoints": {"search": {"p95": "<= 2s"}}},
                      "abort": {"error_rate": "5%", "for": "60s", "p95_factor": 3},
                      "max_duration": "45m"}],
        },
    }, env={})[0]
    job = cfg.capacity.job("release")
    assert job.profile.spawn_rate == Decimal("8.5")
    # 5000 / 8.5 = 588.24 s of ramp, rounded up to the ms
    assert job.profile.planned == timedelta(milliseconds=588236 + 22 * 60_000)
    assert job.thresholds.for_endpoint("search").p95 == timedelta(seconds=2)
    assert job.thresholds.for_endpoint("api").mean == timedelta(milliseconds=500)
    assert list(capacity_errors(cfg)) == []


def test_allow_hosts_by_host_or_host_and_port() -> None:
    assert host_of("https://a.example.com/x") == "a.example.com:443"
    assert host_of("http://[::1]:8080/") == "[::1]:8080"
    assert allowed("http://A.example.com:8080/", ["a.example.com"])
    assert allowed("http://a.example.com:8080/", ["a.example.com:8080"])
    assert not allowed("http://a.example.com:8081/", ["a.example.com:8080"])
    assert not allowed("http://a.example.com.evil.net/", ["a.example.com"])
    assert allowed("http://[::1]:8080/", ["[::1]:8080"])
