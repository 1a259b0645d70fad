"""A kill -9 at any instant loses no probe point for the InfluxDB sink.

The sink's spool lives in the record's file and its probe points are written in
the record's own commits, so a result and its point are committed together or
not at all.  A real ``slaguard run`` (30 targets, one result each per second,
an InfluxDB that never answers so every point stays spooled) is killed with
SIGKILL the instant a commit shows, restarted, killed again; afterwards every result in
the record has exactly one ``probe`` point in the spool.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port

SLAGUARD = str(Path(sys.executable).parent / "slaguard")
TARGETS = 30


def config(tmp: Path) -> Path:
    targets = "\n".join(
        f"  - {{name: t{i}, service: core, kind: http, url: \"http://127.0.0.1:9/\", "
        f"interval: 1s, timeout: 500ms}}" for i in range(TARGETS))
    path = tmp / "slaguard.yaml"
    path.write_text(f"""\
version: 1
storage: {{path: "{tmp / 'slaguard.db'}"}}
server: {{listen: "127.0.0.1:0"}}
exporters:
  influxdb: {{enabled: true, url: "http://127.0.0.1:{free_port()}", bucket: probes}}
services: {{core: {{availability: 99.9%}}}}
targets:
{targets}
""", encoding="utf-8")
    return path


def count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
            return int(c.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_kill_9_between_commit_and_sink_loses_no_point(tmp_path: Path) -> None:
    cfg, db = config(tmp_path), tmp_path / "slaguard.db"
    for pause in (0.37, 1.13, 0.71, 0.2, 0.9):
        before = count(db, "SELECT COUNT(*) FROM results")
        proc = subprocess.Popen([SLAGUARD, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while count(db, "SELECT COUNT(*) FROM results") <= before + TARGETS:
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "no results recorded"
                time.sleep(0.05)
            time.sleep(pause)
            # Then the instant a commit becomes visible: right between record and sink.
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
                seen = c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
                while c.execute("SELECT COUNT(*) FROM results").fetchone()[0] == seen:
                    pass
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
    with sqlite3.connect(db) as c:
        results = sorted(c.execute(
            "SELECT s.target, s.location, r.ts_ms FROM results r "
            "JOIN series s ON s.id = r.series_id"))
        lines = [line for (line,) in c.execute("SELECT line FROM influx_spool")
                 if line.startswith("probe,")]
    points = sorted((_tag(x, "target"), _tag(x, "location"), int(x.rsplit(" ", 1)[1]))
                    for x in lines)
    assert len(results) > 3 * TARGETS
    assert points == results  # each committed result: one point, none lost, none twice


def _tag(line: str, key: str) -> str:
    head = line.split(" ", 1)[0]
    return next(t.split("=", 1)[1] for t in head.split(",")[1:] if t.startswith(key + "="))
