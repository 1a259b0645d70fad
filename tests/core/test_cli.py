"""CLI commands end to end against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from slaguard.cli import main
from slaguard.domain import from_interchange


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/ok" else 503
        body = "AI标书 ok".encode() if status == 200 else b"down"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_probe_prints_one_interchange_line_and_exits_by_outcome(
        tmp_path: Path, server: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "slaguard.yaml"
    cfg.write_text(f"""
version: 1
location: shanghai
services: {{core: {{availability: 99.9%}}}}
targets:
  - {{name: web-home, service: core, kind: http, url: "{server}/ok",
      expect: {{body_contains: AI标书}}}}
  - {{name: api-health, service: core, kind: http, url: "{server}/down"}}
""", encoding="utf-8")
    assert main(["probe", "-c", str(cfg), "web-home"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["target"] == "web-home" and doc["location"] == "shanghai"
    assert doc["outcome"] == "success" and doc["status_code"] == 200
    assert doc["ts"].endswith("+00:00") and doc["duration_ms"] >= 0
    # The µs measurement beside the record's integer ms, and it reads back.
    assert abs(doc["duration_us"] - 1000 * doc["duration_ms"]) <= 500
    assert from_interchange(doc).duration_us == doc["duration_us"]
    assert set(doc["phases_ms"]) >= {"connect", "processing", "transfer"}
    assert main(["probe", "-c", str(cfg), "api-health"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "failure" and doc["error"]["class"] == "http_status"
    assert main(["probe", "-c", str(cfg), "nope"]) == 2
    assert "no target named 'nope' (targets: web-home, api-health)" in capsys.readouterr().err


def test_rules_writes_files_promtool_accepts(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    from tests.config.test_config import EXAMPLE, EXAMPLE_ENV
    from tests.conftest import require_binary

    promtool = require_binary("promtool")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in EXAMPLE_ENV.items():
            mp.setenv(k, v)
        assert main(["rules", "-c", str(EXAMPLE), "-o", str(tmp_path / "rules")]) == 0
    written = capsys.readouterr().out.split()
    assert [Path(p).name for p in written] == ["slaguard-rules.yml", "alertmanager.yml",
                                               "prometheus-scrape.yml"]
    check = subprocess.run([promtool, "check", "rules", written[0]], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_grafana_build_writes_dashboards_and_provisioning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grafana", "build", "-o", str(tmp_path / "g")]) == 0
    written = [Path(p) for p in capsys.readouterr().out.split()]
    dashboards = [p for p in written if p.suffix == ".json"]
    assert len(dashboards) == 4 and all(p.exists() for p in written)
    titles = {json.loads(p.read_text(encoding="utf-8"))["title"] for p in dashboards}
    assert any("SLA" in t for t in titles)
