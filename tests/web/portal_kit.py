"""The portal with real claims: the claims tests' record (October 2026, acme owed 1 200.00,
statements frozen on 11-06), served as the running app serves it — the portal, the claims
API and the status page's static files on one application."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from compensation.archive import StatementArchive
from compensation.claims import Actor, ClaimService, ClaimStore
from compensation.claims_api import ClaimsApi
from compensation.claims_api import register_routes as register_claim_routes
from compensation.lifecycle import StatementLifecycle
from compensation.portal import Portal, register_routes
from slaguard.access import Principals, protect
from slaguard.config import Config
from slaguard.config.calendar import load_calendar
from slaguard.evaluation import Evaluator
from slaguard.store import SQLiteStore
from tests.claims import kit

STAFF = Actor.staff("ops-li")
# Small real files of each accepted kind (the bytes decide the kind, not the name).
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff"
       b"\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LOG = b"10:02 502 Bad Gateway\n10:05 502 Bad Gateway\n"


def write_template(db: Path) -> Path:
    kit.write_record(db)
    return db


@dataclass
class World:
    cfg: Config
    store: SQLiteStore
    archive: StatementArchive
    claims: ClaimService
    clock: kit.Clock

    def app(self) -> web.Application:
        app = web.Application()
        protect(app, Principals.from_config(self.cfg))
        lifecycle = self.claims.statements
        register_claim_routes(app, ClaimsApi(self.claims, lifecycle))
        register_routes(app, Portal(lifecycle.evaluator, statements=lifecycle.body,
                                    claims=self.claims, now_ms=self.clock))
        return app

    def advance(self, claim_id: str, to: str) -> None:
        """Staff take the steps after submission up to ``to`` (reviewed … computed)."""
        order = ["reviewed", "technically_confirmed", "computed"]
        steps: list[Callable[[str, Actor], object]] = [
            self.claims.review, self.claims.confirm_technical, self.claims.compute]
        for step in steps[:order.index(to) + 1]:
            step(claim_id, STAFF)

    def close(self) -> None:
        self.claims.close()
        self.archive.close()
        self.store.close()


def world(template: Path, tmp: Path, now: int = kit.AFTER) -> World:
    db = tmp / "slaguard.db"
    shutil.copyfile(template, db)
    cfg = kit.config(db)
    store, archive = SQLiteStore(db), StatementArchive(db)
    lifecycle = StatementLifecycle(Evaluator(cfg, store, load_calendar(cfg)), archive)
    clock = kit.Clock(now)
    return World(cfg, store, archive, ClaimService(ClaimStore(db), lifecycle, clock), clock)
