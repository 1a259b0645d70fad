"""Every command of ``slaguard --help`` keeps the same exit codes (slaguard/cli/common.py):

0 done; 1 the command ran and the answer is no (a probe failed, a bad line in a
file to import, a claim step or a statement's state refuses, a server refused);
2 it cannot run as asked (usage, configuration, a thing named that does not
exist, a file or record that cannot be opened).  Every error is one ``error:``
line (a configuration's are listed under ``FILE: N error(s)``), never a traceback.

The commands run in-process through ``main`` against a real record and a real
local HTTP server; ``run`` and ``demo`` that cannot start are in
test_start_errors.py, the PDF statement in a subprocess (its logging is real).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from probes.base import wall_ms
from slaguard.cli import main
from slo.periods import previous_month
from tests.conftest import free_port, require_cjk_font

LAST_MONTH = previous_month(wall_ms(), "Asia/Shanghai").label


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@dataclass(frozen=True)
class World:
    dir: Path
    config: Path  # a record exists, CLM-1 is rejected
    no_record: Path  # a valid configuration whose storage.path points at nothing
    invalid: Path


CONFIG = """\
version: 1
storage: {{path: "{store}"}}
services: {{core: {{availability: 99.9%}}}}
targets:
  - {{name: up, service: core, kind: http, url: "{url}/ok"}}
  - {{name: down, service: core, kind: http, url: "{url}/down"}}
customers:
  - {{id: acme, name: Acme, monthly_fee: "12000.00", services: [core]}}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    d = tmp_path_factory.mktemp("exit-codes")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    config, no_record, invalid = d / "slaguard.yaml", d / "no-record.yaml", d / "invalid.yaml"
    config.write_text(CONFIG.format(store=d / "slaguard.db", url=url), encoding="utf-8")
    no_record.write_text(CONFIG.format(store=d / "nothing" / "here.db", url=url),
                         encoding="utf-8")
    invalid.write_text("version: 1\nservices: {core: {availability: 99.9}}\n", encoding="utf-8")
    (d / "empty.jsonl").write_text("", encoding="utf-8")
    (d / "bad.jsonl").write_text('{"x": 1}\n[]\n', encoding="utf-8")
    (d / "a-file").write_text("not a directory", encoding="utf-8")
    c = str(config)
    assert main(["import-results", "-c", c, str(d / "empty.jsonl")]) == 0  # the record
    assert main(["claim", "submit", "-c", c, "--customer", "acme", "--month", LAST_MONTH,
                 "--description", "the site was down"]) == 0
    assert main(["claim", "reject", "-c", c, "CLM-1", "--reason", "measured up"]) == 0
    yield World(d, config, no_record, invalid)
    httpd.shutdown()
    httpd.server_close()


# (name, argv with {c} {d} {month} {closed} {none} {bad} placeholders, exit code, stderr has)
CASES = [
    ("usage: no command", [], 2, "usage:"),
    ("usage: unknown command", ["bogus"], 2, "invalid choice"),
    ("usage: missing argument", ["statement", "-c", "{c}"], 2, "--customer"),
    ("check-config ok", ["check-config", "-c", "{c}"], 0, ""),
    ("check-config invalid", ["check-config", "-c", "{bad}"], 2, "1 error(s)"),
    ("check-config missing file", ["check-config", "-c", "{d}/nope.yaml"], 2, "cannot read"),
    ("probe success", ["probe", "-c", "{c}", "up"], 0, ""),
    ("probe failure", ["probe", "-c", "{c}", "down"], 1, ""),
    ("probe unknown target", ["probe", "-c", "{c}", "nope"], 2, "no target named 'nope'"),
    ("import-results ok", ["import-results", "-c", "{c}", "{d}/empty.jsonl"], 0, ""),
    ("import-results bad line", ["import-results", "-c", "{c}", "{d}/bad.jsonl"], 1,
     "bad.jsonl:1"),
    ("import-results missing file", ["import-results", "-c", "{c}", "{d}/nope.jsonl"], 2,
     "cannot read"),
    ("import-incidents ok", ["import-incidents", "-c", "{c}", "{d}/empty.jsonl"], 0, ""),
    ("import-incidents bad line", ["import-incidents", "-c", "{c}", "{d}/bad.jsonl"], 1,
     "bad.jsonl:1"),
    ("import-incidents missing file", ["import-incidents", "-c", "{c}", "{d}/nope.jsonl"], 2,
     "cannot read"),
    ("import-support ok", ["import-support", "-c", "{c}", "{d}/empty.jsonl"], 0, ""),
    ("import-support bad line", ["import-support", "-c", "{c}", "{d}/bad.jsonl"], 1,
     "bad.jsonl:1"),
    ("import-support missing file", ["import-support", "-c", "{c}", "{d}/nope.jsonl"], 2,
     "cannot read"),
    ("report ok", ["report", "-c", "{c}", "--month", "{month}"], 0, ""),
    ("report bad month", ["report", "-c", "{c}", "--month", "2026-13"], 2, "--month"),
    ("report unknown service", ["report", "-c", "{c}", "--service", "ai"], 2,
     "no service named 'ai'"),
    ("report no record", ["report", "-c", "{none}"], 2, "no record at"),
    ("statement ok", ["statement", "-c", "{c}", "--customer", "acme", "--month", "{month}"],
     0, ""),
    ("statement unknown customer", ["statement", "-c", "{c}", "--customer", "nobody",
                                    "--month", "{month}"], 2, "no customer 'nobody'"),
    ("statement bad month", ["statement", "-c", "{c}", "--customer", "acme", "--month",
                             "2026-99"], 2, "not a month"),
    ("statement no such version", ["statement", "-c", "{c}", "--customer", "acme", "--month",
                                   "{month}", "--version", "7"], 2, "no version 7"),
    ("statement reissue without reason", ["statement", "-c", "{c}", "--customer", "acme",
                                          "--month", "{month}", "--reissue"], 2, "--reason"),
    ("statement reissue not frozen", ["statement", "-c", "{c}", "--customer", "acme",
                                      "--month", "2099-01", "--reissue", "--reason", "x"],
     1, "never frozen or reissued"),
    ("statement no record", ["statement", "-c", "{none}", "--customer", "acme", "--month",
                             "{month}"], 2, "no record at"),
    ("statement -o unusable", ["statement", "-c", "{c}", "--customer", "acme", "--month",
                               "{month}", "-o", "{d}/a-file/s.json"], 2, "not a directory"),
    ("generate-statements not over", ["generate-statements", "-c", "{c}", "--month",
                                      "2099-01"], 1, "is not over"),
    ("generate-statements bad month", ["generate-statements", "-c", "{c}", "--month",
                                       "2026-99"], 2, "not a month"),
    ("claim list", ["claim", "list", "-c", "{c}"], 0, ""),
    ("claim show unknown", ["claim", "show", "-c", "{c}", "CLM-99"], 2, "no claim"),
    ("claim submit unknown customer", ["claim", "submit", "-c", "{c}", "--customer", "nobody",
                                       "--month", "{month}", "--description", "x"], 2,
     "no customer 'nobody'"),
    ("claim step refused", ["claim", "review", "-c", "{c}", "CLM-1"], 1, "rejected"),
    ("claim no action", ["claim", "-c", "{c}"], 2, "usage:"),
    ("rules ok", ["rules", "-c", "{c}", "-o", "{d}/rules"], 0, ""),
    ("rules unusable -o", ["rules", "-c", "{c}", "-o", "{d}/a-file/rules"], 2,
     "not a directory"),
    ("grafana build ok", ["grafana", "build", "-o", "{d}/grafana"], 0, ""),
    ("grafana build unusable -o", ["grafana", "build", "-o", "{d}/a-file/g"], 2,
     "not a directory"),
    ("grafana build invalid config", ["grafana", "build", "-c", "{bad}", "-o", "{d}/g2"], 2,
     "1 error(s)"),
    ("grafana publish unreachable", ["grafana", "publish", "-c", "{c}", "--url",
                                     "http://127.0.0.1:{closed}"], 1, "error:"),
    ("grafana publish not a url", ["grafana", "publish", "-c", "{c}", "--url", "grafana"], 2,
     "--url: expected Grafana's base URL"),
    ("grafana publish missing --dir", ["grafana", "publish", "-c", "{c}", "--url",
                                       "http://127.0.0.1:{closed}", "--dir", "{d}/nope"], 2,
     "cannot read"),
    ("incidents unreachable", ["incidents", "list", "-c", "{c}", "--url",
                               "http://127.0.0.1:{closed}", "--token", "t"], 1, "cannot reach"),
    ("incidents no token", ["incidents", "list", "-c", "{d}/nope.yaml", "--url",
                            "http://127.0.0.1:{closed}"], 2, "no API token"),
    ("incidents bad id", ["incidents", "show", "-c", "{c}", "--url",
                          "http://127.0.0.1:{closed}", "nope"], 2, "not an incident id"),
    ("openslo validate unreadable", ["openslo", "validate", "{d}/nope.yaml"], 2,
     "cannot read"),
    ("openslo export ok", ["openslo", "export", "-c", "{c}", "-o", "{d}/openslo.yaml"], 0, ""),
    ("openslo import invalid config", ["openslo", "import", "{d}/nope.yaml", "-c", "{bad}"],
     2, ""),
    ("capacity run unknown job", ["capacity", "run", "nope", "-c", "{c}"], 2,
     "no capacity job 'nope'"),
    ("capacity show unknown run", ["capacity", "show", "CAP-99", "-c", "{c}"], 2,
     "no capacity run CAP-99"),
    ("capacity kill unreachable", ["capacity", "kill", "-c", "{c}", "--url",
                                   "http://127.0.0.1:{closed}", "--token", "t"], 1, "error:"),
]


@pytest.mark.parametrize(("argv", "code", "says"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_exit_code(world: World, argv: list[str], code: int, says: str,
                   capsys: pytest.CaptureFixture[str]) -> None:
    values = {"c": world.config, "d": world.dir, "month": LAST_MONTH, "closed": free_port(),
              "none": world.no_record, "bad": world.invalid}
    try:
        got = main([a.format(**values) for a in argv])
    except SystemExit as e:  # argparse: usage
        got = int(e.code or 0)
    err = capsys.readouterr().err
    assert got == code, err
    assert says in err, err
    assert "Traceback" not in err
    if says and not err.startswith("usage:") and "error(s)" not in err:
        assert [x for x in err.splitlines() if x.startswith("error:")] == [
            x for x in err.splitlines() if says in x], err


def test_every_command_of_the_help_is_in_the_table() -> None:
    from slaguard.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    commands = set(sub.choices)  # type: ignore[arg-type]
    tested = {c[1][0] for c in CASES if c[1]}
    # run and demo: test_start_errors.py (a port in use, an unusable record).
    assert commands - tested == {"run", "demo"}


def test_a_pdf_statement_keeps_the_renderer_s_progress_out_of_the_log(world: World) -> None:
    require_cjk_font()
    out = world.dir / "statement.pdf"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "slaguard"), "statement", "-c", str(world.config),
         "--customer", "acme", "--month", LAST_MONTH, "--format", "pdf", "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"%PDF")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "sha256" in lines[0], done.stderr  # the one summary line
    assert "weasyprint" not in done.stderr.lower() and "fontTools" not in done.stderr


def test_a_configuration_lists_every_error(world: World,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "-c", str(world.invalid)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"{world.invalid}: 1 error(s)",
                                "  services.core.availability: write 99.9% (an objective "
                                "needs its % sign)"]
    doc = json.dumps(err)  # one line each, nothing else
    assert "Traceback" not in doc
