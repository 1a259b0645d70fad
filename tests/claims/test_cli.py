"""The command functions, through the argument definitions the CLI will wire in."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from compensation.lifecycle import StatementLifecycleError
from slaguard.cli import clock
from slaguard.cli.statements import (
    add_claim_arguments,
    add_generate_arguments,
    add_statement_arguments,
    cmd_claim,
    cmd_generate_statements,
    cmd_statement,
)

from . import kit

Adder = Callable[[argparse.ArgumentParser], None]
Command = Callable[[argparse.Namespace], int]


def parser() -> argparse.ArgumentParser:
    """What cli.build_parser gets once wired: ``-c`` on the command, then our arguments."""
    p = argparse.ArgumentParser(prog="slaguard")
    sub = p.add_subparsers(dest="command", required=True)
    commands: list[tuple[str, Adder, Command]] = [
        ("statement", add_statement_arguments, cmd_statement),
        ("generate-statements", add_generate_arguments, cmd_generate_statements),
        ("claim", add_claim_arguments, cmd_claim)]
    for name, add, fn in commands:
        sp = sub.add_parser(name)
        sp.add_argument("-c", "--config", default="slaguard.yaml")
        add(sp)
        sp.set_defaults(fn=fn)
    return p


@pytest.fixture
def cli(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Callable[..., int]:
    db = tmp_path / "slaguard.db"
    shutil.copyfile(template, db)
    config = tmp_path / "slaguard.yaml"
    config.write_text(yaml.safe_dump(kit.config_dict(db), allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(clock, "now_ms", lambda: kit.AFTER)

    def call(*argv: str) -> int:
        args = parser().parse_args([argv[0], "-c", str(config), *argv[1:]])
        return int(args.fn(args))

    return call


def test_statement_reissue_and_versions(cli: Callable[..., int],
                                        capsysbinary: pytest.CaptureFixture[bytes],
                                        tmp_path: Path) -> None:
    assert cli("statement", "--customer", "acme", "--month", "2026-10", "--format", "csv",
               "-o", str(tmp_path / "v1.csv")) == 0
    err = capsysbinary.readouterr().err.decode()
    assert "SG-202610-acme-v1.csv: frozen version 1" in err and "1200.00 CNY" in err
    v1 = (tmp_path / "v1.csv").read_bytes()
    assert v1.count(b"\r\n") == 3  # CRLF kept, as archived
    assert cli("statement", "--customer", "acme", "--month", "2026-10", "--reissue") == 2
    assert "--reason" in capsysbinary.readouterr().err.decode()
    kit.add_late_incident(tmp_path / "slaguard.db")
    assert cli("statement", "--customer", "acme", "--month", "2026-10", "--reissue",
               "--reason", "INC-7 imported late", "--by", "finance-wang") == 0
    out = capsysbinary.readouterr()
    assert json.loads(out.out)["total"] == "2400.00"
    assert "frozen version 2 (INC-7 imported late)" in out.err.decode()
    assert cli("statement", "--customer", "acme", "--month", "2026-10", "--format", "csv",
               "--version", "1") == 0
    assert capsysbinary.readouterr().out == v1


def test_generate_statements_by_hand(cli: Callable[..., int],
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("generate-statements") == 0  # last month: October, due on 11-06
    assert "2026-10: 2 statements frozen, 0 already frozen" in capsys.readouterr().out
    assert cli("generate-statements", "--month", "2026-10") == 0
    assert "0 statements frozen, 2 already frozen" in capsys.readouterr().out
    monkeypatch.setattr(clock, "now_ms", lambda: kit.at("01-10 09:00", 2027))
    # Refusals are SlaguardErrors: cli.main prints them and exits 1.
    with pytest.raises(StatementLifecycleError, match=r"no data for 2027.*--force"):
        cli("generate-statements")
    assert cli("generate-statements", "--force", "--reason", "2027 notice not yet out; "
               "approved by COO") == 0
    assert "2026-12: 2 statements frozen" in capsys.readouterr().out


def test_the_claim_commands(cli: Callable[..., int],
                            capsys: pytest.CaptureFixture[str]) -> None:
    def claim(*argv: str) -> Any:
        code = cli("claim", *argv)
        out = capsys.readouterr()
        assert code == 0, out.err
        return json.loads(out.out)

    submitted = claim("submit", "--customer", "acme", "--month", "2026-10", "--description",
                      "phone: core down on 10-20", "--evidence", "ticket T-1", "--by", "hotline")
    cid = submitted["claim"]["id"]
    claim("review", cid, "--by", "ops-li", "--note", "ok")
    assert claim("confirm-technical", cid, "--by", "sre-zhao")["claim"]["technical"][
        "overlap_seconds"] == 2700
    assert claim("compute", cid, "--by", "finance-wang")["claim"]["statement"]["total"] == \
        "1200.00"
    claim("confirm", cid, "--settlement", "fee_reduction", "--by", "csm-sun")
    assert claim("execute", cid, "--reference", "CN-2026-11-001")["claim"]["state"] == \
        "executed"
    shown = claim("show", cid)["claim"]
    assert [e["action"] for e in shown["log"]] == [
        "submit", "review", "confirm-technical", "compute", "confirm", "execute"]
    assert shown["log"][0]["actor"] == "hotline"
    assert [c["id"] for c in claim("list", "--state", "executed")["claims"]] == [cid]
    # A refused step exits 1 with the reason (cli.main prints SlaguardError).
    from compensation.claims import ClaimConflict

    with pytest.raises(ClaimConflict, match="executed: no further steps"):
        cli("claim", "reject", cid, "--reason", "late")
