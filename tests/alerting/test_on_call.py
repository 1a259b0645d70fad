"""What on-call needs to act on a page, and when slaguard says an incident is over:
links and the acknowledge command in every notification, restore and resolve told
to whoever was paged, ``incidents.restore_after`` / ``auto_resolve_after`` as
named settings shown with the incident, one log line per event, and slaguard's
own absence told once as its own event instead of probe-down pages."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alerting import rules
from alerting.api import AlertingApi, register_routes
from alerting.clock import FakeClock
from alerting.notification import Priority, Status
from alerting.notifiers import RecordingNotifier
from alerting.service import MONITORING_GAP, AlertingService
from slaguard.config import ConfigError, parse_config
from tests.alerting.test_alerting_api import AUTH, TOKEN, ClientFactory
from tests.alerting.test_incidents import channel_of
from tests.alerting.test_rules import (
    HOUR,
    MIN,
    NOW,
    SEC,
    probe,
    raw_config,
    report_at,
    snapshot,
    web_results,
)


def config(tmp_path: Path, **incidents: Any) -> Any:
    raw = raw_config(tmp_path / "slaguard.db")
    raw["server"] = {"listen": "0.0.0.0:9108", "api_token": TOKEN,
                     "public_url": "https://slaguard.example.com/"}
    raw["incidents"].update(incidents)
    return parse_config(raw, env={})[0]


def service(tmp_path: Path, clock: FakeClock, **incidents: Any
            ) -> tuple[AlertingService, RecordingNotifier]:
    rec = RecordingNotifier()
    svc = AlertingService.from_config(config(tmp_path, **incidents), clock=clock,
                                      notifiers={"webhook": rec},
                                      config_path=str(tmp_path / "slaguard.yaml"))
    return svc, rec


def outage(until: int, now: int, cfg: Any) -> tuple[Any, list[Any]]:
    """Shanghai and Beijing down for 20 min up to ``until``, healthy from then to ``now``."""
    results = web_results(until - 4 * HOUR, until, until - 20 * MIN)
    results += web_results(until, now) if now > until else []
    return report_at(cfg, now, results), snapshot(results)


# -- configuration ---------------------------------------------------------------------------


def test_the_settings_have_names_and_defaults(tmp_path: Path) -> None:
    raw = raw_config(tmp_path / "x.db")
    cfg = parse_config(raw, env={})[0]
    assert cfg.incidents.restore_after.total_seconds() == 300
    assert cfg.incidents.auto_resolve_after is not None
    assert cfg.incidents.auto_resolve_after.total_seconds() == 3600
    assert cfg.server.public_url is None
    raw["incidents"].update(restore_after="2m", auto_resolve_after=".inf")
    cfg = parse_config(raw, env={})[0]
    assert cfg.incidents.restore_after.total_seconds() == 120
    assert cfg.incidents.auto_resolve_after is None  # only a person resolves
    raw["server"] = {"public_url": ""}  # ${SLAGUARD_PUBLIC_URL:-} left empty: unset
    assert parse_config(raw, env={})[0].server.public_url is None
    raw["server"] = {"public_url": "slaguard.example.com"}
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env={})
    assert info.value.errors == ["server.public_url: expected an http(s) base URL such as "
                                 "https://slaguard.example.com, got 'slaguard.example.com'"]


# -- links and the acknowledge command ----------------------------------------------------


async def test_a_page_links_the_incident_and_says_how_to_acknowledge(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    svc, rec = service(tmp_path, clock)
    svc.evaluate(*outage(NOW, NOW, config(tmp_path)))
    await svc.tick()
    page = rec.sent[0]
    assert page.url == "https://slaguard.example.com/api/v1/incidents/INC-1"
    assert page.ack_command == \
        f"slaguard incidents ack INC-1 -c {tmp_path / 'slaguard.yaml'}"
    assert page.ack_api == ('curl -X POST -H "Authorization: Bearer $SLAGUARD_API_TOKEN" '
                            "https://slaguard.example.com/api/v1/incidents/INC-1/acknowledge")
    assert (page.restore_after_s, page.auto_resolve_after_s) == (300, 3600)


def test_without_public_url_links_come_from_listen(tmp_path: Path) -> None:
    from alerting import links

    assert links.public_base_url(None, "10.0.0.5:9108") == "http://10.0.0.5:9108"
    assert links.public_base_url(None, "[::1]:9108") == "http://[::1]:9108"
    assert not links.public_base_url(None, "0.0.0.0:9108").startswith("http://0.0.0.0")
    assert links.local_base_url(None, "0.0.0.0:9108") == "http://127.0.0.1:9108"
    assert links.local_base_url("https://s.example.com/sla/", "x:1") == \
        "https://s.example.com/sla"
    assert links.ack_command("INC-3", None, "http://h:1") == \
        "slaguard incidents ack INC-3 --url http://h:1"
    assert links.ack_command("INC-3", "/etc/my conf.yaml", "http://h:1") == \
        "slaguard incidents ack INC-3 -c '/etc/my conf.yaml'"


async def test_the_api_shows_the_link_the_command_and_the_clocks(
        tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    clock = FakeClock(NOW)
    svc, _ = service(tmp_path, clock, restore_after="2m", auto_resolve_after="30m")
    cfg = config(tmp_path)
    svc.evaluate(*outage(NOW, NOW, cfg))
    hand = svc.incidents.create("core", "hotline", Priority.P2, "zhang")
    app = web.Application()
    register_routes(app, AlertingApi(svc, TOKEN, "Asia/Shanghai", {"core"}))
    client = await aiohttp_client(app)
    doc = (await (await client.get("/api/v1/incidents/INC-1")).json())["incident"]
    assert doc["url"] == "https://slaguard.example.com/api/v1/incidents/INC-1"
    assert doc["acknowledge"]["command"].startswith("slaguard incidents ack INC-1 -c ")
    assert doc["acknowledge"]["api"].endswith("/api/v1/incidents/INC-1/acknowledge")
    assert (doc["restore_after_seconds"], doc["auto_resolve_after_seconds"]) == (120, 1800)
    listed = (await (await client.get("/api/v1/incidents")).json())["incidents"]
    manual = next(i for i in listed if i["id"] == hand.public_id)
    # A person restores and resolves a hand-made incident: no automatic clocks.
    assert (manual["restore_after_seconds"], manual["auto_resolve_after_seconds"]) == \
        (None, None)
    resp = await client.post("/api/v1/incidents/INC-1/acknowledge", headers=AUTH,
                             json={"by": "bob", "note": "looking at the load balancer"})
    assert resp.status == 200
    log = (await (await client.get("/api/v1/incidents/INC-1")).json())["incident"]["log"]
    assert log[-1]["kind"] == "acknowledged"
    assert log[-1]["detail"]["note"] == "looking at the load balancer"
    resp = await client.post("/api/v1/incidents/INC-1/resolve", headers=AUTH,
                             json={"by": "bob", "note": 7})
    assert resp.status == 400 and "note" in (await resp.json())["error"]
    resp = await client.post("/api/v1/incidents/INC-1/resolve", headers=AUTH, json={})
    done = (await resp.json())["incident"]
    assert done["state"] == "resolved" and done["acknowledge"] is None  # nothing to ack


# -- restore and resolve are told, on the named clocks ---------------------------------------


async def test_a_recovered_outage_is_restored_after_restore_after_and_told(
        tmp_path: Path) -> None:
    """The outage ends at NOW.  Burn-rate alerts keep firing while their 5 min window
    still holds the outage; the incident is restored ``restore_after`` (2 min) after
    the outage cleared all the same, told to the three paged channels, and resolved
    ``auto_resolve_after`` later, told again."""
    clock = FakeClock(NOW)
    svc, rec = service(tmp_path, clock, restore_after="2m", auto_resolve_after="30m")
    cfg = config(tmp_path)
    svc.evaluate(*outage(NOW, NOW, cfg))
    await svc.tick()
    assert sorted(channel_of(k) for k in rec.keys) == ["email", "phone", "sms"]
    for at in (NOW + 30 * SEC, NOW + 2 * MIN + 30 * SEC):  # clear from the first, 2 min on
        clock.set(at)
        outcome = svc.evaluate(*outage(NOW, at, cfg))
    assert any(a.rule == rules.BURN_RATE and a.clear_since_ms is None
               for a in outcome.alerts.values()), "the burn alert should still fire"
    [inc] = svc.incidents.find()
    assert inc.state == "restored" and inc.restored_ms == NOW + 2 * MIN + 30 * SEC
    assert inc.auto_resolve_ms == inc.restored_ms + 30 * MIN
    await svc.tick()
    restored = [n for n in rec.sent if n.status is Status.RESTORED]
    assert sorted(channel_of(n.idempotency_key) for n in restored) == ["email", "phone", "sms"]
    assert restored[0].ended_at is not None and restored[0].ack_command is not None
    # The burn alert clearing later changes nothing.
    clock.set(NOW + 10 * MIN)
    svc.evaluate(*outage(NOW, clock.now_ms(), cfg))
    assert svc.incidents.find()[0].state == "restored"
    clock.set(inc.restored_ms + 30 * MIN)
    await svc.tick()
    assert svc.incidents.find()[0].state == "resolved"
    resolved = [n for n in rec.sent if n.status is Status.RESOLVED]
    assert len(resolved) == 3 and all(n.ack_command is None for n in resolved)


async def test_a_breach_after_restore_is_told_again(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    svc, rec = service(tmp_path, clock)
    inc = svc.incidents.create("core", "hotline: login fails", Priority.P3, "zhang")
    svc.incidents.restore(inc.id, "bob", note="restarted the pods")
    from alerting.incidents import Opening, SourceChange

    again = Opening(inc.dedup_key, "core", "manual", Priority.P3, "login fails again")
    svc.apply([SourceChange("am:0123456789abcdef", True, again)])
    svc.incidents.resolve(inc.id, "bob")
    await svc.tick()
    steps = [k.split("/")[1] for k in rec.keys if k.endswith("/ticket")]
    assert steps == ["open-P3", "restored-0", "reopened-1", "resolved"]
    _, log = svc.incidents.get(inc.id)
    assert next(e for e in log if e.kind == "restored").detail["note"] == "restarted the pods"


async def test_one_info_line_per_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(NOW)
    svc, rec = service(tmp_path, clock)
    caplog.set_level(logging.INFO, logger="alerting")
    inc = svc.incidents.create("core", "hotline", Priority.P4, "zhang")
    rec.fail_next(1)
    await svc.tick()  # ticket fails once
    clock.advance(MIN)
    await svc.tick()  # and is sent
    clock.set(NOW + 24 * HOUR)
    await svc.tick()  # P4 escalates after 24 h
    svc.incidents.acknowledge(inc.id, "bob")
    svc.incidents.restore(inc.id, "bob")
    svc.incidents.resolve(inc.id, "bob")
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    for expected in ("incident INC-1 opened: P4 core hotline",
                     "notification INC-1/open-P4/ticket via ticket failed (attempt 1)",
                     "notification INC-1/open-P4/ticket sent via ticket (attempt 2)",
                     "incident INC-1 escalated to level 1 (oncall)",
                     "incident INC-1 acknowledged by bob",
                     "incident INC-1 restored (bob)",
                     "incident INC-1 resolved (bob)"):
        assert sum(line.startswith(expected) for line in lines) == 1, (expected, lines)


# -- slaguard's own absence -----------------------------------------------------------------


def stale(ts: int) -> list[Any]:
    return snapshot([probe(ts, location=loc) for loc in ("shanghai", "beijing")])


async def test_own_absence_is_one_event_and_no_probe_down(tmp_path: Path) -> None:
    last = NOW - HOUR  # the newest result before the stop
    clock = FakeClock(NOW)
    svc, rec = service(tmp_path, clock)
    # Without knowing it was away, the rules would page every silent probe.
    unguarded = rules.evaluate(None, stale(last), {}, NOW, svc.settings)
    assert {e.alert.rule for e in unguarded.events} == {rules.PROBE_DOWN}
    gap = svc.resume(last)
    assert gap is not None
    assert (gap.service, gap.rule, gap.source, gap.priority) == (
        "slaguard", MONITORING_GAP, "self", Priority.P4)
    assert (gap.opened_ms, gap.restored_ms, gap.resolved_ms) == (last, NOW, NOW)
    assert svc.evaluate(None, stale(last)).events == ()
    clock.advance(90 * SEC)  # three 30 s intervals since the start: still ours
    assert svc.evaluate(None, stale(last)).events == ()
    await svc.tick()
    [told] = rec.sent
    assert told.status is Status.RESTORED and told.service == "slaguard"
    assert "monitoring gap" in told.title and "not downtime" in told.summary
    assert told.ack_command is None  # nothing to acknowledge
    # Still silent past three intervals since the start: that is the probe's trouble.
    clock.advance(1)
    fired = svc.evaluate(None, stale(last)).events
    assert {(e.alert.rule, e.alert.subject) for e in fired} == {
        (rules.PROBE_DOWN, "web-home@shanghai"), (rules.PROBE_DOWN, "web-home@beijing")}
    # The gap is for neither the status page's incidents nor a customer's credit.
    from alerting.incidents import compensation_records

    assert all(r.id != gap.public_id for r in compensation_records(svc.incidents.find()))


def test_a_short_restart_is_no_event(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    svc, _ = service(tmp_path, clock)
    assert svc.resume(NOW - 90 * SEC) is None  # three intervals: not longer
    assert svc.resume(None) is None  # a fresh record: nothing was watched
    assert svc.incidents.find() == []


def test_a_crash_loop_is_told_once_per_gap(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    svc, _ = service(tmp_path, clock)
    assert svc.resume(NOW - HOUR) is not None
    clock.advance(30 * SEC)  # crashed again before a probe ran; back 30 s later
    assert svc.resume(NOW - HOUR) is None
    clock.advance(10 * MIN)  # and again, away ten minutes this time
    again = svc.resume(NOW - HOUR)
    assert again is not None and again.opened_ms == NOW + 30 * SEC


def test_burn_alerts_trailing_an_outage_neither_hold_nor_reopen_it(tmp_path: Path) -> None:
    from alerting.incidents import Opening, SourceChange

    clock = FakeClock(NOW)
    svc, _ = service(tmp_path, clock)
    o = Opening("core/availability", "core", "availability", Priority.P1, "core down")

    def change(source: str, firing: bool) -> Any:
        return svc.apply([SourceChange(f"rule:{source}", firing, o)])[0]

    burn_only = Opening("backup/availability", "backup", "availability", Priority.P2, "burn")
    svc.apply([SourceChange("rule:burn_rate|backup|6h/30m", True, burn_only)])
    change("confirmed_outage|core|", True)
    change("burn_rate|core|1h/5m", True)
    clock.advance(MIN)
    restored = change("confirmed_outage|core|", False)
    assert restored is not None and restored.state == "restored"
    assert restored.auto_resolve_ms == NOW + MIN + HOUR  # the burn alert does not hold it
    clock.advance(MIN)
    late = change("burn_rate|core|6h/30m", True)
    assert late is not None and late.state == "restored" and late.reopen_count == 0
    clock.advance(MIN)
    again = change("confirmed_outage|core|", True)
    assert again is not None and again.state == "opened" and again.reopen_count == 1
    # Without an outage, burn alerts are the incident's own symptom and do hold it.
    [backup] = [i for i in svc.incidents.find() if i.service == "backup"]
    assert backup.state == "opened"
