"""10 000 customers' statements for one month: what the monthly job does on the 5th working day.

    .venv/bin/python bench/statements.py [--customers 10000] [--services 4]
        [--targets-per-service 2] [--locations 2] [--interval 60s] [--seed 1]
        [--db PATH] [--keep] [--quick]

One run, one JSON document on stdout (progress goes to stderr):

1. A configuration is built in memory and validated by
   ``slaguard.config.parse_config``: ``--services`` services (objectives 99.9 /
   99.99 / 99.95 %), ``--targets-per-service`` http targets each, ``--locations``
   locations, and ``--customers`` customers with seeded fees (100.00 to
   50 000.00) subscribing to 1 to 3 services, both settlement forms offered.
2. A month (September 2026, Asia/Shanghai) of results for those few targets is
   written through ``SQLiteStore.add`` (not measured): all successes except a
   few confirmed outages, so some services miss their objective and many
   statements carry credit lines; plus a handful of imported incidents (one
   for every customer, some for one customer), so the incident path is real.
3. **Measured:** ``MonthlyStatementJob.run(now)`` at 2026-10-13 09:00 (working
   day 5 of October): one month report shared by every customer, then
   ``statement_from_report`` per customer (the CLI's and the API's path), each
   statement's canonical JSON and content hash, and the archive transactions.
   Its ``seconds`` is the figure the goal (≤ 30 s) is about.
4. A breakdown pass over the same record without the archive: the report, the
   10 000 ``statement_from_report`` calls, and the JSON rendering
   (``exporters.statement_json.render``, what ``--format json`` prints).
5. A second ``run`` (the job's hourly repeat) must find nothing to do.

``peak_rss_mib`` is ``ru_maxrss``: the maximum over the whole process,
configuration of 10 000 customers and all included; ``peak_rss_mib_through_job``
is the same read right after the job (the breakdown pass holds all 10 000
statements at once, the job only a chunk of 500).  ``--quick``: 200
customers, 3 days of results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from compensation.archive import StatementArchive  # noqa: E402
from compensation.incidents_import import import_incidents  # noqa: E402
from compensation.lifecycle import MonthlyStatementJob, StatementLifecycle  # noqa: E402
from compensation.statements import statement_from_report  # noqa: E402
from exporters import statement_json  # noqa: E402
from slaguard.config import Config, parse_config  # noqa: E402
from slaguard.config.calendar import load_calendar  # noqa: E402
from slaguard.domain import Outcome, ProbeResult  # noqa: E402
from slaguard.evaluation import Evaluator  # noqa: E402
from slaguard.store import SQLiteStore  # noqa: E402
from slaguard.units import parse_duration  # noqa: E402
from slo.periods import parse_month  # noqa: E402

TZ = "Asia/Shanghai"
MONTH = "2026-09"
NOW_TEXT = "2026-10-13T09:00:00+08:00"  # working day 5 of October 2026 (National Day)
OBJECTIVES = ("99.9%", "99.99%", "99.95%")


def log(msg: str) -> None:
    print(f"[statements] {msg}", file=sys.stderr, flush=True)


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def config_dict(n_customers: int, n_services: int, per_service: int, locations: list[str],
                interval: str, db: Path, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 1])
    services = {f"svc-{i}": {"title": f"Service {i}", "availability": OBJECTIVES[i % 3]}
                for i in range(n_services)}
    targets = [{"name": f"{svc}-t{j}", "service": svc, "kind": "http",
                "url": f"http://127.0.0.1:9/{svc}/{j}", "interval": interval, "timeout": "5s"}
               for svc in services for j in range(per_service)]
    names = list(services)
    customers = []
    for i in range(n_customers):
        k = int(rng.integers(1, min(3, n_services) + 1))
        mine = sorted(rng.choice(names, size=k, replace=False).tolist())
        fee = Decimal(int(rng.integers(10_000, 5_000_000))).scaleb(-2)
        customers.append({"id": f"c{i:05d}", "name": f"客户 {i:05d} 有限公司",
                          "monthly_fee": f"{fee:f}", "services": mine})
    return {
        "version": 1, "timezone": TZ, "location": locations[0], "locations": locations,
        "storage": {"path": str(db)}, "services": services, "targets": targets,
        "incidents": {"priorities": {"P1": {"respond": "15m"}, "P2": {"respond": "30m"},
                                     "P3": {"respond": "2h"}, "P4": {"respond": "8h"}}},
        "compensation": {"settlement": ["fee_reduction", "extension"]},
        "customers": customers,
    }


def outages(cfg: Config, start_ms: int, end_ms: int, seed: int) -> dict[str, list[tuple[int, int]]]:
    """Per service, a few (start, end) spans where all its first target's locations fail:
    lengths from 10 min to 8 h, so services land in different tiers."""
    rng = np.random.default_rng([seed, 2])
    out: dict[str, list[tuple[int, int]]] = {}
    for svc in cfg.services:
        spans = []
        for _ in range(int(rng.integers(0, 4))):
            length = int(rng.choice([10, 45, 120, 480])) * 60_000
            at = int(rng.integers(start_ms, end_ms - length))
            spans.append((at, at + length))
        out[svc] = spans
    return out


def write_results(store: SQLiteStore, cfg: Config, start_ms: int, end_ms: int,
                  interval_ms: int, seed: int) -> int:
    down = outages(cfg, start_ms, end_ms, seed)
    first = {svc: f"{svc}-t0" for svc in cfg.services}
    batch: list[ProbeResult] = []
    written = 0
    intervals = {t.name: interval_ms for t in cfg.targets}
    for ts in range(start_ms, end_ms, interval_ms):
        for t in cfg.targets:
            failing = t.name == first[t.service] and any(a <= ts < b for a, b in down[t.service])
            for loc in cfg.all_locations:
                batch.append(ProbeResult(ts, t.name, t.service, loc, "http",
                                         Outcome.FAILURE if failing else Outcome.SUCCESS, 150,
                                         status_code=503 if failing else 200))
        if len(batch) >= 20_000:
            written += store.add(batch, intervals).added
            batch = []
    if batch:
        written += store.add(batch, intervals).added
    return written


def write_incidents(db: Path, cfg: Config, start_ms: int, seed: int) -> int:
    rng = np.random.default_rng([seed, 3])
    rows = []
    for i in range(20):
        opened = start_ms + int(rng.integers(0, 29 * 86_400_000))
        late = int(rng.choice([5, 20, 40, 90])) * 60_000
        customer = None if i < 3 else cfg.customers[int(rng.integers(len(cfg.customers)))].id
        rows.append({"id": f"INC-{i + 1}", "priority": "P1", "customer": customer,
                     "opened": _rfc(opened), "responded": _rfc(opened + late)})
    path = db.parent / "incidents.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return import_incidents(db, path).added


def _rfc(ms: int) -> str:
    from slo.periods import rfc3339

    return rfc3339(ms, TZ)


def _ms(text: str) -> int:
    from datetime import datetime

    from slo.periods import to_ms

    return to_ms(datetime.fromisoformat(text))


def breakdown(evaluator: Evaluator, cfg: Config, now: int) -> dict[str, Any]:
    """The job's work without the archive, timed step by step."""
    t0 = time.perf_counter()
    services = sorted({s for c in cfg.customers for s in c.services})
    report = evaluator.month(MONTH, now, services)
    t1 = time.perf_counter()
    statements = [statement_from_report(evaluator, report, c, now) for c in cfg.customers]
    t2 = time.perf_counter()
    total_bytes = sum(len(statement_json.render(s).encode()) for s in statements)
    t3 = time.perf_counter()
    credited = sum(1 for s in statements if s.total > 0)
    return {"report_s": round(t1 - t0, 3), "statements_s": round(t2 - t1, 3),
            "json_render_s": round(t3 - t2, 3), "total_s": round(t3 - t0, 3),
            "json_bytes": total_bytes, "statements_with_credit": credited}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--services", type=int, default=4)
    ap.add_argument("--targets-per-service", type=int, default=2)
    ap.add_argument("--locations", type=int, default=2)
    ap.add_argument("--interval", default="60s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", help="SQLite file to use (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--quick", action="store_true", help="200 customers, 3 days of results")
    args = ap.parse_args()
    if args.quick:
        args.customers = 200
    tmp = Path(tempfile.mkdtemp(prefix="slaguard-bench-statements-"))
    db = Path(args.db) if args.db else tmp / "slaguard.db"
    try:
        return run(args, db)
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, db: Path) -> int:
    locations = ["shanghai", "beijing", "shenzhen"][:args.locations]
    t = time.perf_counter()
    cfg, _ = parse_config(config_dict(args.customers, args.services, args.targets_per_service,
                                      locations, args.interval, db, args.seed), env={})
    config_s = time.perf_counter() - t
    log(f"config: {len(cfg.customers)} customers, {len(cfg.targets)} targets ({config_s:.1f} s)")
    period = parse_month(MONTH, TZ)
    end = period.start_ms + 3 * 86_400_000 if args.quick else period.end_ms + 3_600_000
    interval_ms = int(parse_duration(args.interval).total_seconds() * 1000)
    store = SQLiteStore(db)
    t = time.perf_counter()
    written = write_results(store, cfg, period.start_ms, end, interval_ms, args.seed)
    incidents = write_incidents(db, cfg, period.start_ms, args.seed)
    log(f"record: {written} results, {incidents} incidents ({time.perf_counter() - t:.1f} s)")
    evaluator = Evaluator(cfg, store, load_calendar(cfg))
    archive = StatementArchive(db)
    job = MonthlyStatementJob(StatementLifecycle(evaluator, archive))
    now = _ms(NOW_TEXT)
    log("the job: report, statements, canonical JSON, archive …")
    t = time.perf_counter()
    first = job.run(now)
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    again = job.run(now + 3_600_000)
    repeat_s = time.perf_counter() - t
    job_rss = maxrss_mib()  # before the breakdown pass holds every statement at once
    log(f"job: {first.generated} frozen in {seconds:.2f} s; breakdown pass …")
    parts = breakdown(evaluator, cfg, now)
    archive_bytes = sum(len(v.document) for c in cfg.customers[:1]
                        for v in archive.versions(c.id, MONTH))
    archive.close()
    store.close()
    met = seconds <= 30 and first.generated == args.customers
    doc: dict[str, Any] = {
        "benchmark": "statements",
        "customers": len(cfg.customers),
        "month": MONTH,
        "seconds": round(seconds, 3),
        "statements_per_s": round(first.generated / seconds, 1) if seconds else None,
        "peak_rss_mib": round(maxrss_mib(), 1),
        "peak_rss_mib_through_job": round(job_rss, 1),
        "goal": {"seconds": 30, "met": met},
        "job": {"status": first.status, "generated": first.generated,
                "repeat_status": again.status, "repeat_s": round(repeat_s, 3)},
        "breakdown": parts,
        "setup": {"config_parse_s": round(config_s, 3), "services": len(cfg.services),
                  "targets": len(cfg.targets), "locations": len(locations),
                  "interval": args.interval, "results": written, "incidents": incidents,
                  "db_mib": round(os.path.getsize(db) / 2**20, 1),
                  "archived_json_bytes_first_customer": archive_bytes},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }
    print(json.dumps(doc, indent=2))
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
