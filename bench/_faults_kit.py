"""The parts bench/faults.py drives: real processes, local servers, the record read from outside.

* :class:`Target` — the HTTP server slaguard probes, in a thread of the bench process:
  ``/ok`` answers 200, ``/flaky`` 200 or 503 as :attr:`Target.failing` says; every
  answered request is counted by path.
* :class:`Receiver` — a webhook receiver in a thread: it answers 503 while ``refusing``
  and 200 otherwise, and logs every request with its ``webhook-id`` header and answer,
  so deliveries per notification can be counted (a 2xx is a delivery).
* :class:`Slaguard` — ``slaguard run -c CONFIG`` as a child process in its own session
  (its probe workers with it), its log in a file; ``kill9`` kills the main process
  only, as the OOM killer or an operator would, and then reaps what it leaves.
* :class:`VictoriaMetrics` — Debian's ``victoria-metrics`` on a fixed loopback port and
  data directory, so it can be stopped and started again in between.
* :func:`rows` and friends read the SQLite record from another connection: what a
  reader sees there is what was committed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLAGUARD = os.environ.get("SLAGUARD", str(ROOT / ".venv" / "bin" / "slaguard"))
STAFF = "faults-bench-staff-token"
Row = tuple[str, str, int]  # (target, location, ts_ms)


def say(message: str) -> None:
    """A progress line on stderr, stamped with the wall clock."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def need(binary: str, env: str | None = None, hint: str = "") -> str:
    """The path of ``binary`` (``$env`` overrides), or a clear SystemExit."""
    path = os.environ.get(env, "") if env else ""
    found = path or shutil.which(binary) or (binary if os.access(binary, os.X_OK) else None)
    if not found:
        raise SystemExit(f"error: {binary} not found{(' (' + hint + ')') if hint else ''}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str,
               every_s: float = 0.2) -> float:
    """Seconds until ``check()`` held; TimeoutError naming ``what`` otherwise."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"{what}: not after {timeout_s:g} s")
        time.sleep(every_s)
    return time.monotonic() - t0


def http(url: str, *, token: str | None = None, timeout_s: float = 5.0
         ) -> tuple[int | None, bytes]:
    """(status, body) of a GET; status None when nothing answered."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


# -- local servers ----------------------------------------------------------------------


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, status: int, body: bytes = b"ok") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


class Target:
    """The probed site: ``/ok`` always 200, ``/flaky`` 503 while ``failing``."""

    def __init__(self) -> None:
        self.failing = False
        self.answered: Counter[str] = Counter()
        self._lock = threading.Lock()
        outer = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                status = 503 if path == "/flaky" and outer.failing else 200
                self.answer(status)
                with outer._lock:
                    outer.answered[path] += 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def count(self) -> int:
        with self._lock:
            return sum(self.answered.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """A webhook endpoint that logs every request: (webhook-id, status answered, time)."""

    def __init__(self) -> None:
        self.refusing = True
        self.log: list[tuple[str, int, float]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                key = self.headers.get("webhook-id") or self.headers.get("Idempotency-Key") or ""
                status = 503 if outer.refusing else 200
                self.answer(status)
                with outer._lock:
                    outer.log.append((key, status, time.time()))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def delivered(self) -> Counter[str]:
        """2xx answers per idempotency key."""
        with self._lock:
            return Counter(k for k, status, _ in self.log if 200 <= status < 300)

    def attempts(self, key: str) -> dict[str, int]:
        """The answers one notification got, refused and accepted."""
        with self._lock:
            answers = [status for k, status, _ in self.log if k == key]
        return {"refused": sum(1 for s in answers if s >= 300),
                "accepted": sum(1 for s in answers if 200 <= s < 300)}

    def refused(self) -> int:
        with self._lock:
            return sum(1 for _, status, _ in self.log if status >= 300)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- slaguard ---------------------------------------------------------------------------


def config(tmp: Path, *, db: Path, port: int, targets: list[dict[str, Any]],
           extra: dict[str, Any] | None = None, workers: int = 1) -> Path:
    """A configuration file (JSON is YAML) for ``slaguard run``."""
    doc: dict[str, Any] = {
        "version": 1,
        "storage": {"path": str(db)},
        "server": {"listen": f"127.0.0.1:{port}", "api_token": STAFF},
        "scheduling": {"workers": workers, "evaluate_every": "1s"},
        "services": {"core": {"availability": "99.9%"}},
        "targets": targets,
        **(extra or {}),
    }
    path = tmp / "slaguard.yaml"
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([SLAGUARD, "check-config", "-c", str(path)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: the bench's own configuration is refused:\n{done.stdout}"
                         f"{done.stderr}")
    return path


def http_targets(target: Target, n: int, path: str = "/ok") -> list[dict[str, Any]]:
    return [{"name": f"t{i:02d}", "service": "core", "kind": "http",
             "url": f"{target.url}{path}?t={i}", "interval": "1s", "timeout": "800ms"}
            for i in range(n)]


class Slaguard:
    """``slaguard run -c cfg``, restartable; every start appends to the same log."""

    def __init__(self, cfg: Path, port: int, log: Path, prefix: list[str] | None = None):
        self.cfg, self.port, self.log_path = cfg, port, log
        self.prefix = prefix or []  # e.g. nsenter into a mount namespace
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout_s: float = 60.0) -> float:
        """Start and wait for /healthz to answer; returns the seconds it took."""
        t0 = time.monotonic()
        with self.log_path.open("ab") as out:
            out.write(f"\n=== start {self.starts + 1} at {time.time():.3f} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen([*self.prefix, SLAGUARD, "run", "-c", str(self.cfg)],
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=self.cfg.parent)
        self.starts += 1
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"slaguard exited with {proc.returncode} at start; "
                                   f"log {self.log_path}:\n{self.tail()}")
            return self.healthz()[0] is not None
        wait_until(up, timeout_s, f"slaguard at {self.url}", every_s=0.1)
        return time.monotonic() - t0

    def healthz(self) -> tuple[int | None, dict[str, Any]]:
        status, body = http(f"{self.url}/healthz", timeout_s=2)
        try:
            return status, json.loads(body) if body else {}
        except ValueError:
            return status, {"raw": body[:200].decode(errors="replace")}

    def metric(self, name: str) -> float | None:
        """A sample without labels from /metrics (None when absent or unreachable)."""
        status, body = http(f"{self.url}/metrics", token=STAFF)
        if status != 200:
            return None
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def kill9(self) -> int:
        """SIGKILL the main process alone; returns how many of its children were still
        alive 5 s later (they are then killed too)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        return self._reap_group(5.0)

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM and wait: the exit code (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self._reap_group(2.0)
        return code

    def _reap_group(self, grace_s: float) -> int:
        assert self.proc is not None
        pgid = self.proc.pid  # start_new_session: the group is the main process's pid
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.1)
        left = _group_size(pgid)
        if left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        return left

    def tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def _group_size(pgid: int) -> int:
    n = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    n += 1
    return n


def _group_alive(pgid: int) -> bool:
    return _group_size(pgid) > 0


# -- VictoriaMetrics --------------------------------------------------------------------


class VictoriaMetrics:
    def __init__(self, binary: str, data: Path, log: Path) -> None:
        self.binary, self.data, self.log_path = binary, data, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [self.binary, f"-storageDataPath={self.data}",
                f"-httpListenAddr=127.0.0.1:{self.port}", "-search.latencyOffset=0s",
                "-retentionPeriod=100y"]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited with {proc.returncode}; see "
                                   f"{self.log_path}")
            return http(f"{self.url}/health", timeout_s=1)[0] == 200
        wait_until(up, 30, "victoria-metrics", every_s=0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def samples(self, metric: str) -> list[Row]:
        """Every (target, location, ts_ms) sample of ``metric`` VictoriaMetrics holds."""
        http(f"{self.url}/internal/force_flush", timeout_s=30)
        q = urllib.parse.urlencode({"match[]": metric})
        status, body = http(f"{self.url}/api/v1/export?{q}", timeout_s=120)
        if status != 200:
            raise RuntimeError(f"victoria-metrics export answered {status}: {body[:300]!r}")
        out: list[Row] = []
        for line in body.decode().splitlines():
            if line:
                s = json.loads(line)
                m = s["metric"]
                out += [(m.get("target", ""), m.get("location", ""), int(ts))
                        for ts in s["timestamps"]]
        return out


# -- the record, read from outside ------------------------------------------------------


@contextlib.contextmanager
def reader(db: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection: it sees exactly what has been committed."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        yield conn
    finally:
        conn.close()


def rows(db: Path) -> set[Row]:
    """Every committed result as (target, location, ts_ms)."""
    with reader(db) as conn:
        return {(t, loc, ts) for t, loc, ts in conn.execute(
            "SELECT s.target, s.location, r.ts_ms FROM results r "
            "JOIN series s ON s.id = r.series_id")}


_ROWS_SCRIPT = """
import json, sqlite3, sys
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
print(json.dumps(conn.execute("SELECT s.target, s.location, r.ts_ms FROM results r "
                              "JOIN series s ON s.id = r.series_id").fetchall()))
"""


def rows_in(prefix: list[str], db: Path) -> set[Row]:
    """``rows`` read by a process started with ``prefix`` (e.g. nsenter into the mount
    namespace that holds ``db``: SQLite resolves /proc/PID/root to our own root)."""
    done = subprocess.run([*prefix, sys.executable, "-c", _ROWS_SCRIPT, str(db)],
                          capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"reading {db} failed: {done.stderr.strip()[-500:]}")
    return {(t, loc, ts) for t, loc, ts in json.loads(done.stdout)}


def scalar(db: Path, sql: str) -> int:
    with reader(db) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return 0
            raise


def missing_slots(stored: set[Row], interval_ms: int = 1000) -> int:
    """Probe instants missing between each series' first and last result: a gap of
    more than 1.5 intervals counts its missing slots (round(gap / interval) − 1)."""
    by_series: dict[tuple[str, str], list[int]] = {}
    for target, loc, ts in stored:
        by_series.setdefault((target, loc), []).append(ts)
    missing = 0
    for stamps in by_series.values():
        stamps.sort()
        for a, b in itertools.pairwise(stamps):
            if b - a > 1.5 * interval_ms:
                missing += round((b - a) / interval_ms) - 1
    return missing


def log_problems(text: str) -> dict[str, Any]:
    """Tracebacks and ERROR lines in a slaguard log, with the distinct ERROR messages."""
    errors = Counter(line.split(" ERROR ", 1)[1][:160] for line in text.splitlines()
                     if " ERROR " in line)
    return {"tracebacks": text.count("Traceback (most recent call last)"),
            "error_lines": sum(errors.values()),
            "error_messages": dict(errors.most_common(5))}
