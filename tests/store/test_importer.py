"""import-results: all or nothing, line numbers in errors, idempotent."""

from __future__ import annotations

import io
import json
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from slaguard.cli import main
from slaguard.domain import Outcome, format_ts
from slaguard.errors import ImportFileError
from slaguard.importer import Known, Progress, import_results
from slaguard.store import SQLiteStore

KNOWN = Known(services={"web-home": "core", "api-health": "core"},
              intervals={"web-home": 30_000, "api-health": 30_000},
              kinds={"web-home": "http", "api-health": "http"},
              locations=("shanghai", "beijing"))


T0 = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00
CST = timezone(timedelta(hours=8))


def line(i: int, outcome: str = "success", **kw: object) -> str:
    doc = {"ts": format_ts(T0 + i * 30_000, CST), "target": "web-home",
           "location": "shanghai", "kind": "http", "outcome": outcome, "duration_ms": 200 + i,
           "phases_ms": {"resolve": 1, "connect": 2, "tls": 3, "processing": 150,
                         "transfer": 44 + i}, "status_code": 200, **kw}
    return json.dumps(doc)


def write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "results.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_import_then_reimport_adds_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    path = write(tmp_path, [line(i) for i in range(12_000)])  # more than one chunk
    stats = import_results(store, path, KNOWN)
    assert (stats.lines, stats.added, stats.duplicates) == (12_000, 12_000, 0)
    again = import_results(store, path, KNOWN)
    assert (again.added, again.duplicates) == (0, 12_000)
    first = store.results("web-home", limit=1)[0]
    assert first.ts_ms == 1_790_784_000_000 and first.service == "core"
    assert first.outcome is Outcome.SUCCESS and first.phases_ms["transfer"] == 44
    store.close()


@pytest.mark.parametrize(("bad", "message"), [
    ("{not json", "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
    (line(0, target="nope"), "target: unknown target 'nope'"),
    (line(0, outcome="down"), "outcome: expected success|failure|unknown, got 'down'"),
    (line(0, ts="2026-10-01T00:00:00"), "ts: offset required: '2026-10-01T00:00:00'"),
    (line(0, duration_ms=-1), "duration_ms: expected a non-negative integer, got -1"),
    (line(0, phases_ms={"ttfb": 3}), "phases_ms.ttfb: unknown phase"),
    (line(0, error={"class": "oops"}), "error.class: unknown error class 'oops'"),
    (line(0, location="mars"), "location: unknown location 'mars' (locations: shanghai, beijing)"),
    (line(0, kind="upload"), "kind: 'upload' does not match the configured 'http'"),
    (line(0, outcome="failure", bound_exceeded_ms=100),
     "bound_exceeded_ms: only a success can exceed a performance bound, outcome is failure"),
    (line(0, bound_exceeded_ms=200),
     "bound_exceeded_ms: 200 ms is not exceeded by duration_ms 200"),
])
def test_bad_line_names_its_number_and_imports_nothing(tmp_path: Path, bad: str,
                                                       message: str) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    path = write(tmp_path, [line(i) for i in range(7000)] + [bad] + [line(9000)])
    with pytest.raises(ImportFileError) as exc:
        import_results(store, path, KNOWN)
    assert exc.value.line == 7001
    assert str(exc.value) == f"{path}:7001: {message}"
    assert store.count() == 0
    assert store.series() == []
    store.close()


def test_a_slow_success_is_imported_with_its_bound(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    path = write(tmp_path, [line(0), line(1, duration_ms=1_300, bound_exceeded_ms=1_000)])
    assert import_results(store, path, KNOWN).added == 2
    fast, slow = store.results("web-home")
    assert (fast.outcome, fast.bound_exceeded_ms) == (Outcome.SUCCESS, None)
    assert (slow.outcome, slow.bound_exceeded_ms, slow.error) == (Outcome.SUCCESS, 1_000, None)
    store.close()


def test_progress_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        p = Progress(stream, every=0)
        p(5000, False)
        p(10000, True)
    assert "imported 10,000 lines" in tty.getvalue() and tty.getvalue().endswith("\n")
    assert pipe.getvalue() == ""


def test_cli_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "slaguard.yaml"
    cfg.write_text(f"""
version: 1
storage: {{path: {tmp_path / 'data.db'}}}
location: shanghai
services: {{core: {{availability: 99.9%}}}}
targets:
  - {{name: web-home, service: core, kind: http, url: "http://127.0.0.1:1/"}}
""", encoding="utf-8")
    path = write(tmp_path, [line(i) for i in range(3)])
    assert main(["import-results", "-c", str(cfg), str(path)]) == 0
    assert "3 lines, 3 results added, 0 already in the record" in capsys.readouterr().out
    bad = write(tmp_path, [line(0), "[]"])
    assert main(["import-results", "-c", str(cfg), str(bad)]) == 1
    assert f"error: {bad}:2: expected a JSON object" in capsys.readouterr().err


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with pytest.raises(ImportFileError, match="cannot read: No such file or directory"):
        import_results(store, tmp_path / "missing.jsonl", KNOWN)
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes(line(0).encode() + b"\n" + "café".encode("latin-1") + b"\n")
    with pytest.raises(ImportFileError, match="not UTF-8"):
        import_results(store, latin, KNOWN)
    assert store.count() == 0
    store.close()


def test_crlf_and_blank_lines_keep_their_numbers(tmp_path: Path) -> None:
    """The file is read as bytes now: Windows line ends and blank lines still import, and
    a bad line after them is still named by its own number."""
    store = SQLiteStore(tmp_path / "s.db")
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\r\n".join([line(0).encode(), b"", b"  ", line(1).encode()]) + b"\r\n")
    assert import_results(store, path, KNOWN).added == 2
    path.write_bytes(b"\r\n".join([line(2).encode(), b"", b"{oops"]) + b"\r\n")
    with pytest.raises(ImportFileError) as exc:
        import_results(store, path, KNOWN)
    assert exc.value.line == 3 and store.count() == 2
    store.close()
