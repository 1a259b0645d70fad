"""Real external servers for tests, started on free loopback ports."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import free_port, require_binary


def wait_http(url: str, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None
              ) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s} s")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@contextmanager
def process(argv: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            try:
                wait_http(ready_url, proc=proc)
            except (RuntimeError, TimeoutError) as e:
                raise RuntimeError(f"{e}\n--- {log} ---\n{log.read_text(errors='replace')}") \
                    from None
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Prometheus:
    def __init__(self, url: str):
        self.url = url

    def query(self, promql: str) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": promql})
        doc = get_json(f"{self.url}/api/v1/query?{q}")
        assert doc["status"] == "success", doc
        return list(doc["data"]["result"])

    def wait_for(self, promql: str, timeout_s: float = 30.0, min_series: int = 1
                 ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(promql)
            if len(result) >= min_series or time.monotonic() > deadline:
                return result
            time.sleep(0.25)


@contextmanager
def prometheus(tmp: Path, scrape: list[str], interval: str = "1s",
               rule_files: list[Path] | None = None,
               alertmanager: str | None = None,
               jobs: list[dict[str, Any]] | None = None) -> Iterator[Prometheus]:
    """A real Prometheus scraping ``scrape`` (host:port list) every ``interval``, or
    running the scrape ``jobs`` given (such as the one ``slaguard rules`` writes)."""
    binary = require_binary("prometheus")
    port = free_port()
    cfg: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": jobs or [{"job_name": "slaguard",
                                    "static_configs": [{"targets": scrape}]}],
    }
    if rule_files:
        cfg["rule_files"] = [str(p) for p in rule_files]
    if alertmanager:
        cfg["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    conf = tmp / "prometheus.yml"
    conf.write_text(json.dumps(cfg), encoding="utf-8")  # JSON is YAML
    argv = [binary, f"--config.file={conf}", f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    with process(argv, f"http://127.0.0.1:{port}/-/ready", tmp / "prometheus.log"):
        yield Prometheus(f"http://127.0.0.1:{port}")
