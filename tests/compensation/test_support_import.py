"""import-support: JSONL and CSV, all or nothing, the bad line named by number and field,
idempotent by id, what was recorded never changed; the policy's defaults; the CLI."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from compensation.support import Known, SupportStore, import_support, support_rules
from slaguard.cli import main
from slaguard.config import parse_config
from slaguard.errors import ImportFileError, StoreError
from slo.periods import parse_month
from slo.support import Hours, Interaction, Limit, Rule
from tests.conftest import api_config

TZ = "Asia/Shanghai"
NOV = parse_month("2026-11", TZ)
KNOWN = Known({"acme", "globex"})
CHAT: dict[str, Any] = {"id": "CHAT-1", "channel": "chat", "customer": "acme",
                        "opened": "2026-11-24T10:00:00+08:00",
                        "answered": "2026-11-24T10:00:21+08:00",
                        "resolved": "2026-11-24T10:15:00+08:00"}
MAIL: dict[str, Any] = {"id": "MAIL-1", "channel": "email", "customer": "globex",
                        "opened": "2026-11-20T02:00:00Z", "answered": None}
CSV = ("id,channel,customer,opened,answered,abandoned,resolved,followed_up\n"
       "HL-1,hotline,acme,2026-11-24T09:15:00+08:00,2026-11-24T09:16:05.250+08:00,,,\n"
       "\n"
       "HL-2,hotline,globex,2026-11-24T09:20:00+08:00,,2026-11-24T09:21:00+08:00,,\n"
       'T-1,ticket,acme,2026-11-24T11:00:00+08:00,2026-11-24T12:00:00+08:00,,'
       '"2026-11-25T10:00:00+08:00",2026-11-25T15:00:00+08:00\n')


def at(text: str) -> int:
    from datetime import datetime

    from slo.periods import to_ms
    return to_ms(datetime.fromisoformat(text))


def jsonl(tmp_path: Path, docs: list[Any], name: str = "support.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join((d if isinstance(d, str) else json.dumps(d, ensure_ascii=False))
                         + "\n" for d in docs), encoding="utf-8")
    return p


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SupportStore(tmp_path / "data" / "slaguard.db")
    yield s
    s.close()


def test_jsonl_file_is_imported_and_read_back_by_month(store: SupportStore, tmp_path: Path
                                                       ) -> None:
    stats = import_support(store, jsonl(tmp_path, [CHAT, "", MAIL]), KNOWN)
    assert (stats.lines, stats.added, stats.updated, stats.unchanged) == (2, 2, 0, 0)
    assert store.for_period(NOV) == [
        Interaction("MAIL-1", "email", "globex", at("2026-11-20T10:00:00+08:00")),
        Interaction("CHAT-1", "chat", "acme", at("2026-11-24T10:00:00+08:00"),
                    at("2026-11-24T10:00:21+08:00"),
                    resolved_ms=at("2026-11-24T10:15:00+08:00")),
    ]
    assert [i.id for i in store.for_period(NOV, "globex")] == ["MAIL-1"]


def test_csv_file_with_header_empty_cells_quotes_crlf_and_bom(store: SupportStore,
                                                              tmp_path: Path) -> None:
    p = tmp_path / "export.csv"
    p.write_bytes(b"\xef\xbb\xbf" + CSV.replace("\n", "\r\n").encode())
    stats = import_support(store, p, KNOWN)
    assert (stats.lines, stats.added) == (3, 3)
    hl1, hl2, t1 = store.for_period(NOV)
    assert hl1.answered_ms == at("2026-11-24T09:16:05.250+08:00")
    assert (hl2.answered_ms, hl2.abandoned_ms) == (None, at("2026-11-24T09:21:00+08:00"))
    assert (t1.resolved_ms, t1.followed_up_ms) == (at("2026-11-25T10:00:00+08:00"),
                                                   at("2026-11-25T15:00:00+08:00"))


def test_the_format_is_told_by_content_without_a_known_extension(store: SupportStore,
                                                                 tmp_path: Path) -> None:
    as_csv = tmp_path / "export.txt"
    as_csv.write_text(CSV, encoding="utf-8")
    as_json = jsonl(tmp_path, ["", CHAT], name="export.dat")
    assert import_support(store, as_csv, KNOWN).added == 3
    assert import_support(store, as_json, KNOWN).added == 1


def test_reimport_adds_nothing_and_a_later_export_fills_in(store: SupportStore, tmp_path: Path
                                                           ) -> None:
    first = jsonl(tmp_path, [CHAT, MAIL])
    import_support(store, first, KNOWN)
    again = import_support(store, first, KNOWN)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    later = {**CHAT, "followed_up": "2026-11-25T09:00:00+08:00"}
    stats = import_support(store, jsonl(tmp_path, [later, MAIL], "later.jsonl"), KNOWN)
    assert (stats.added, stats.updated, stats.unchanged) == (0, 1, 1)
    # The older export again: its missing follow-up keeps what is recorded.
    assert import_support(store, first, KNOWN).unchanged == 2
    (chat,) = [i for i in store.for_period(NOV) if i.id == "CHAT-1"]
    assert chat.followed_up_ms == at("2026-11-25T09:00:00+08:00")
    assert store.count() == 2


def test_a_recorded_value_is_never_changed_and_nothing_of_the_file_is_kept(
        store: SupportStore, tmp_path: Path) -> None:
    import_support(store, jsonl(tmp_path, [CHAT]), KNOWN)
    new = {**MAIL, "id": "MAIL-2"}
    shorter = {**CHAT, "answered": "2026-11-24T10:00:05+08:00"}
    with pytest.raises(ImportFileError) as e:
        import_support(store, jsonl(tmp_path, [new, shorter], "b.jsonl"), KNOWN)
    assert e.value.line == 2
    assert "answered: id 'CHAT-1' has 2026-11-24T02:00:21+00:00 (the record)" in str(e.value)
    assert "never change what is recorded" in str(e.value)
    assert [i.id for i in store.for_period(NOV)] == ["CHAT-1"]  # MAIL-2 not kept either


def test_the_same_id_twice_in_a_file_merges_or_names_both_lines(store: SupportStore,
                                                                tmp_path: Path) -> None:
    filled = {**CHAT, "followed_up": "2026-11-25T09:00:00+08:00"}
    assert import_support(store, jsonl(tmp_path, [CHAT, MAIL, filled]), KNOWN).lines == 2
    other = {**CHAT, "customer": "globex"}
    with pytest.raises(ImportFileError, match=r":3: customer: id 'CHAT-1' has acme \(line 1\)"):
        import_support(store, jsonl(tmp_path, [CHAT, MAIL, other], "c.jsonl"), KNOWN)


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in CHAT.items() if k != key}


@pytest.mark.parametrize(("doc", "message"), [
    ("{not json", "invalid JSON"),
    ('{"id": NaN}', "invalid JSON: NaN is not JSON"),
    ([1, 2], "expected a JSON object, got list"),
    ({**CHAT, "answerd": "x"}, "unknown field(s) 'answerd'"),
    (_without("id"), "id: required"),
    (_without("opened"), "opened: required"),
    ({**CHAT, "id": 7}, "id: expected a string, got 7"),
    ({**CHAT, "id": " x"}, "id: at most 128 printable characters"),
    ({**CHAT, "channel": "fax"}, "channel: 'fax' is not one of chat, hotline, vip, email, "
                                 "ticket"),
    ({**CHAT, "customer": "initech"}, "customer: 'initech' is not a configured customer "
                                      "(customers[].id: acme, globex)"),
    ({**CHAT, "opened": 1764000000000}, "opened: expected an RFC 3339 string, got 1764000000000"),
    ({**CHAT, "opened": "2026-11-24 10:00:00"}, "opened: a UTC offset is required"),
    ({**CHAT, "opened": "yesterday"}, "opened: not an RFC 3339 timestamp"),
    ({**CHAT, "answered": "2026-11-24T10:00:21.0001+08:00"}, "answered: finer than a "
                                                             "millisecond"),
    ({**CHAT, "opened": "1999-12-31T23:59:59Z"}, "opened: must lie between 2000-01-01"),
    ({**CHAT, "answered": "2026-11-24T09:59:59+08:00"}, "answered: before opened"),
    ({**CHAT, "resolved": "2026-11-24T09:00:00+08:00"}, "resolved: before opened"),
    ({**CHAT, "abandoned": "2026-11-24T10:00:09+08:00"}, "abandoned: an interaction answered "
                                                         "was not abandoned"),
    ({**MAIL, "abandoned": "2026-11-24T10:00:09+08:00"}, "abandoned: only for chat, hotline, "
                                                         "vip"),
    ({**_without("resolved"), "followed_up": "2026-11-25T00:00:00+08:00"},
     "followed_up: needs resolved"),
    ({**CHAT, "followed_up": "2026-11-24T10:14:00+08:00"}, "followed_up: before resolved"),
])
def test_a_bad_line_is_named_by_number_and_field_and_nothing_is_imported(
        store: SupportStore, tmp_path: Path, doc: Any, message: str) -> None:
    path = jsonl(tmp_path, [MAIL, "", doc, {**CHAT, "id": "CHAT-9"}])
    with pytest.raises(ImportFileError) as e:
        import_support(store, path, KNOWN)
    assert e.value.line == 3, str(e.value)
    assert message in e.value.message, e.value.message
    assert str(e.value).startswith(f"{path}:3: ")
    assert store.count() == 0


@pytest.mark.parametrize(("text", "line", "message"), [
    ("id,channel,customer\n", 1, "header: missing column(s) opened"),
    ("id,channel,customer,opened,answerd\n", 1, "header: unknown column(s) 'answerd'"),
    ("id,channel,customer,opened,id\n", 1, "header: column(s) id twice"),
    ("id,channel,customer,opened\nX,chat,acme\n", 2, "3 cells, the header has 4"),
    ('id,channel,customer,opened\n"X,chat,acme,2026-11-24T10:00:00+08:00\n', 2,
     "invalid CSV"),
    ("id,channel,customer,opened\nX,chat,acme,2026-11-24T10:00:00+08:00\n"
     "Y,chat,acme,\n", 3, "opened: required"),
])
def test_a_bad_csv_line_is_named_by_number(store: SupportStore, tmp_path: Path, text: str,
                                           line: int, message: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFileError) as e:
        import_support(store, p, KNOWN)
    assert (e.value.line, message in e.value.message) == (line, True), str(e.value)
    assert store.count() == 0


def test_bytes_that_are_not_utf8_are_named_by_line(store: SupportStore, tmp_path: Path) -> None:
    p = tmp_path / "latin1.csv"
    p.write_bytes(CSV.encode() + b"\xe9,chat,acme,2026-11-24T10:00:00+08:00,,,,\n")
    with pytest.raises(ImportFileError, match=r"latin1.csv:6: not UTF-8: invalid continuation "
                                              r"byte \(byte 1\)"):
        import_support(store, p, KNOWN)
    assert store.count() == 0


def test_an_over_long_line_is_refused_without_reading_it_all(store: SupportStore,
                                                             tmp_path: Path) -> None:
    p = tmp_path / "long.jsonl"
    with p.open("wb") as f:
        f.write(json.dumps(CHAT).encode() + b"\n")
        f.write(b'{"id": "' + b"x" * (2 << 20) + b'"}\n')
    with pytest.raises(ImportFileError) as e:
        import_support(store, p, KNOWN)
    assert e.value.line == 2 and "line longer than 1,048,576 bytes" in e.value.message
    assert len(str(e.value)) < 200
    assert store.count() == 0


def test_a_missing_file_is_line_0(store: SupportStore, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError) as e:
        import_support(store, tmp_path / "nope.jsonl", KNOWN)
    assert e.value.line == 0


def test_the_table_refuses_what_the_parser_refuses(tmp_path: Path) -> None:
    """The record's own checks: a row written behind the importer's back cannot say an
    answer came before the question."""
    db = tmp_path / "s.db"
    SupportStore(db).close()
    with closing(sqlite3.connect(db)) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO support_interactions (id, channel, customer, opened_ms, "
                     "answered_ms, source, imported_ms) VALUES ('x','chat','a',10,5,'t',0)")


def test_a_record_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    SupportStore(db).close()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE support_meta SET value = '99' WHERE key = 'schema'")
        conn.commit()
    with pytest.raises(StoreError, match="support interactions schema 99"):
        SupportStore(db)


# -- the policy ----------------------------------------------------------------------------


def _cfg(tmp_path: Path, support: dict[str, Any] | None = None) -> Any:
    doc = api_config(tmp_path, "staff-token")
    doc["customers"].append({"id": "globex", "name": "Globex", "monthly_fee": "100.00",
                             "services": ["core"]})
    if support is not None:
        doc["support"] = support
    return parse_config(doc, env={})[0]


def test_the_defaults_are_the_standards_numbers(tmp_path: Path) -> None:
    """在线客服 30秒内 (≤ 30 000 ms, 7×24); 400热线 <2分钟 (< 120 000 ms) 工作日 9:00-18:00;
    邮件 2个工作日内; VIP and 工单 no time; 回访 24小时内 (≤ 86 400 000 ms) on every channel."""
    rules = support_rules(_cfg(tmp_path))
    assert rules.channels == {
        "chat": Rule(Limit("within", 30_000)),
        "hotline": Rule(Limit("under", 120_000), Hours("working", 540, 1080)),
        "vip": Rule(None), "email": Rule(Limit("working_days", 2)), "ticket": Rule(None)}
    assert rules.follow_up == Limit("within", 86_400_000)
    assert rules.follow_up_channels == {"chat", "hotline", "vip", "email", "ticket"}
    assert (rules.timezone, rules.listed) == (TZ, 10)


def test_a_configured_policy_becomes_its_rules(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, {"vip": {"within": "20s"}, "ticket": {"working_days": 1},
                          "chat": {"under": "1m", "hours": "08:30-24:00", "days": "all"},
                          "follow_up": {"within": None, "channels": ["email"]},
                          "worst_listed": 3})
    rules = support_rules(cfg)
    assert rules.channels["vip"] == Rule(Limit("within", 20_000))
    assert rules.channels["ticket"] == Rule(Limit("working_days", 1))
    assert rules.channels["chat"] == Rule(Limit("under", 60_000), Hours("all", 510, 1440))
    assert (rules.follow_up, rules.follow_up_channels, rules.listed) == (None, {"email"}, 3)
    assert cfg.support.chat.under == timedelta(minutes=1)


# -- the command ---------------------------------------------------------------------------


def _config_file(tmp_path: Path) -> Path:
    p = tmp_path / "slaguard.yaml"
    doc = api_config(tmp_path, "staff-token")
    doc["customers"].append({"id": "globex", "name": "Globex", "monthly_fee": "100.00",
                             "services": ["core"]})
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return p


def test_cli_imports_and_exits_1_naming_the_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config_file(tmp_path)
    good = jsonl(tmp_path, [CHAT, MAIL])
    assert main(["import-support", "-c", str(cfg), str(good)]) == 0
    assert "2 interactions, 2 added, 0 filled in, 0 unchanged" in capsys.readouterr().out
    assert main(["import-support", "-c", str(cfg), str(good)]) == 0
    assert "0 added, 0 filled in, 2 unchanged" in capsys.readouterr().out
    bad = jsonl(tmp_path, [MAIL, {**CHAT, "id": "C-2", "customer": "initech"}], "bad.jsonl")
    assert main(["import-support", "-c", str(cfg), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}:2: customer: 'initech' is not a configured customer")
    assert "Traceback" not in err


def test_cli_exits_2_for_the_configuration_and_a_missing_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config_file(tmp_path)
    assert main(["import-support", "-c", str(cfg), str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    doc = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    doc["support"] = {"chat": {"within": "30s", "under": "1m"}}
    broken.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert main(["import-support", "-c", str(broken), str(jsonl(tmp_path, [CHAT]))]) == 2
    assert "support.chat: give at most one of within, under and working_days" in \
        capsys.readouterr().err


def test_report_section_json_and_table(tmp_path: Path) -> None:
    """What ``slaguard report`` includes: CHAT-1 answered in 21 s (met), resolved 10:15 and
    never followed up ('now' is later: missed); MAIL-1 received Fri 11-20 10:00, never
    answered, due 11-25 00:00: missed.  Response 1/2, follow-up 0/1, overall 1/3."""
    from slaguard.cli.support import render_support_table, support_section

    cfg_path = _config_file(tmp_path)
    cfg = parse_config(yaml.safe_load(cfg_path.read_text(encoding="utf-8")), env={})[0]
    store = SupportStore(cfg.storage.path)
    import_support(store, jsonl(tmp_path, [CHAT, MAIL]), KNOWN)
    store.close()
    now = at("2026-12-03T12:00:00+08:00")
    doc = support_section(cfg, "2026-11", now)
    assert doc["overall"]["compliance_ratio"] == "1/3"
    assert [c["commitment"] for c in doc["commitments"]] == ["response", "follow_up"]
    table = render_support_table(doc)
    assert table.startswith("Support desk 2026-11 (Asia/Shanghai)\n")
    assert "email    response    1      0    1       -         0           0.000%" in table
    assert "all      all         3      1    2       -         0           33.333%" in table
    # Due 11-25 00:00, 'now' 12-03 12:00: 8 d 12 h = 204 h late so far.
    assert "MAIL-1 (globex) 2026-11-20T10:00:00+08:00: missed no_answer, 204h00m00s late" \
        in table
    with pytest.raises(ValueError, match="not a month"):
        support_section(cfg, "2026-13", now)
