"""The claims store: the audit log is append-only; one live claim per month."""

from __future__ import annotations

import sqlite3

import pytest

from compensation.claims import Actor, ClaimConflict, ClaimForbidden

from . import kit


def test_the_audit_log_refuses_updates_and_deletes(w: kit.World) -> None:
    claim = w.claims.submit(w.claims.new_claim("acme", "2026-10", "down"), Actor.staff("li"))
    w.claims.review(claim.id, Actor.staff("ops-li"), "ok")
    db = sqlite3.connect(w.cfg.storage.path)
    try:
        for sql in ("UPDATE claims_log SET actor='someone else'", "DELETE FROM claims_log"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(sql)
    finally:
        db.close()
    _, log = w.claims.get(claim.public_id, Actor.staff("li"))
    assert [(e.actor, e.action, e.from_state, e.to_state) for e in log] == [
        ("li", "submit", None, "submitted"), ("ops-li", "review", "submitted", "reviewed")]


def test_the_database_itself_refuses_a_second_live_claim(w: kit.World) -> None:
    w.claims.submit(w.claims.new_claim("acme", "2026-10", "down"), Actor.staff("li"))
    with pytest.raises(ClaimConflict):
        w.claims.submit(w.claims.new_claim("acme", "2026-10", "again"), Actor.staff("li"))
    db = sqlite3.connect(w.cfg.storage.path)
    try:
        with pytest.raises(sqlite3.IntegrityError):  # the partial unique index, past the code
            db.execute("INSERT INTO claims (customer, month, start_ms, end_ms, description, "
                       "evidence, state, submitted_ms, updated_ms) "
                       "VALUES ('acme', '2026-10', 0, 1, 'x', '[]', 'reviewed', 0, 0)")
    finally:
        db.close()


def test_the_service_checks_ownership_too(w: kit.World) -> None:
    """Not only the API: any caller acting as a customer is held to its own claims."""
    claim = w.claims.submit(w.claims.new_claim("acme", "2026-10", "down"),
                            Actor.of_customer("acme"))
    globex = Actor.of_customer("globex")
    with pytest.raises(ClaimForbidden):
        w.claims.get(claim.id, globex)
    with pytest.raises(ClaimForbidden):
        w.claims.submit(w.claims.new_claim("acme", "2026-10", "x"), globex)
    with pytest.raises(ClaimForbidden):
        w.claims.review(claim.id, Actor.of_customer("acme"))
    assert w.claims.find(globex) == []


def test_the_portal_hooks(w: kit.World) -> None:
    """``Portal(statements=lifecycle.body, claims_for=claims.customer_claims)``."""
    w.claims.submit(w.claims.new_claim("acme", "2026-10", "down"), Actor.of_customer("acme"))
    assert [c["id"] for c in w.claims.customer_claims("acme")] == ["CLM-1"]
    assert w.claims.customer_claims("globex") == []
    body = w.lifecycle.body("acme", "2026-10", "html", kit.AFTER)
    assert body == w.lifecycle.render("acme", "2026-10", "html", kit.AFTER + 1).body
    assert w.archive.frozen_customers("2026-10") == {"acme"}
