"""Evidence: the files a failed check leaves behind (a browser check's screenshot,
Playwright trace and optional HAR), kept on disk by result id.

Layout: ``ROOT/<target>/<ts_ms>@<location>/<name>``, one directory per result
(``slaguard.domain.result_id`` is ``target@location@ts_ms``; each part is
percent-quoted, so no name can climb out of ROOT).  A result's directory is written
under a temporary name and renamed into place, so a reader sees all of its files or
none.  Files are only the names in ``FILES``.

Nothing secret is kept: a trace and a HAR record every request's headers, so before
they are stored every ``Cookie``, ``Set-Cookie``, ``Authorization`` and
``Proxy-Authorization`` value (as a header, a cookie list, or the context's
``extraHTTPHeaders``) is replaced by ``SCRUBBED``, and so is every occurrence of the
target's own secret header values anywhere in the archive (``scrub_trace``).

Evidence older than a target's ``artefacts.keep`` is deleted (``purge``; the
probe calls it at most hourly per target, so no job has to be wired for it).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from slaguard.domain import result_id

SCRUBBED = "[scrubbed]"
SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
# name → content type; nothing else is ever stored or served.
FILES: Mapping[str, str] = {
    "screenshot.png": "image/png",
    "trace.zip": "application/zip",
    "page.har": "application/json",
    "meta.json": "application/json",
}
PURGE_EVERY_MS = 3_600_000


def _q(part: str) -> str:
    return quote(part, safe="")


@dataclass(frozen=True)
class EvidenceFile:
    name: str
    size: int
    content_type: str


def parse_result_id(rid: str) -> tuple[str, str, int]:
    """``target@location@ts_ms`` → its parts; ValueError naming ``id`` otherwise."""
    target, sep, rest = rid.partition("@")
    location, sep2, ts = rest.rpartition("@")
    if not (sep and sep2 and target and location and ts.isascii() and ts.isdigit()
            and len(ts) <= 15):
        raise ValueError("id: not a result id (target@location@ts_ms)")
    return target, location, int(ts)


class EvidenceStore:
    """Evidence files on disk, by result id (see the module's docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._purged: dict[str, int] = {}  # target → when it was last purged (epoch ms)

    def _dir(self, rid: str) -> Path:
        target, location, ts = parse_result_id(rid)
        return self.root / _q(target) / f"{ts}@{_q(location)}"

    def save(self, rid: str, files: Mapping[str, bytes]) -> Path:
        """Store a result's files at once (all or nothing); returns its directory."""
        unknown = set(files) - set(FILES)
        if unknown:
            raise ValueError(f"not an evidence file: {', '.join(sorted(unknown))}")
        final = self._dir(rid)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        try:
            for name, data in files.items():
                (tmp / name).write_bytes(data)
            if final.exists():  # the same result saved again (a retry): the newer wins
                shutil.rmtree(final)
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def files(self, rid: str) -> list[EvidenceFile]:
        """The result's evidence files (none: an empty list)."""
        d = self._dir(rid)
        if not d.is_dir():
            return []
        return [EvidenceFile(p.name, p.stat().st_size, FILES[p.name])
                for p in sorted(d.iterdir()) if p.name in FILES and p.is_file()]

    def path(self, rid: str, name: str) -> Path | None:
        if name not in FILES:
            return None
        p = self._dir(rid) / name
        return p if p.is_file() else None

    def ids(self, target: str) -> list[str]:
        """The result ids of a target that have evidence, oldest first."""
        out: list[tuple[int, str]] = []
        d = self.root / _q(target)
        for entry in d.iterdir() if d.is_dir() else ():
            ts, sep, loc = entry.name.partition("@")
            if sep and ts.isdigit():
                out.append((int(ts), result_id(target, unquote(loc), int(ts))))
        return [rid for _, rid in sorted(out)]

    def purge(self, target: str, keep_ms: int, now_ms: int) -> int:
        """Delete the target's evidence taken before ``now_ms - keep_ms``; how many."""
        self._purged[target] = now_ms
        cut = now_ms - keep_ms
        gone = 0
        d = self.root / _q(target)
        for entry in list(d.iterdir()) if d.is_dir() else ():
            ts = entry.name.partition("@")[0]
            stale_tmp = entry.name.startswith(".tmp-") and \
                entry.stat().st_mtime * 1000 < now_ms - PURGE_EVERY_MS
            if (ts.isdigit() and int(ts) < cut) or stale_tmp:
                shutil.rmtree(entry, ignore_errors=True)
                gone += 1
        return gone

    def purge_due(self, target: str, now_ms: int) -> bool:
        return now_ms - self._purged.get(target, -PURGE_EVERY_MS) >= PURGE_EVERY_MS


# -- scrubbing ----------------------------------------------------------------------


def _scrub(node: Any) -> Any:
    """Secret headers and cookies in any JSON shape Playwright writes: ``{"name": …,
    "value": …}`` pairs (HAR and trace network entries), header maps
    (``extraHTTPHeaders``), and cookie lists (``cookies``)."""
    if isinstance(node, list):
        return [_scrub(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    name = node.get("name")
    secret_pair = isinstance(name, str) and name.lower() in SECRET_HEADERS
    for key, value in node.items():
        if key.lower() in SECRET_HEADERS and isinstance(value, str):
            out[key] = SCRUBBED
        elif key == "cookies" and isinstance(value, list):
            out[key] = [_scrub_cookie(c) for c in value]
        elif key == "value" and secret_pair and isinstance(value, str):
            out[key] = SCRUBBED
        else:
            out[key] = _scrub(value)
    return out


def _scrub_cookie(cookie: Any) -> Any:
    if isinstance(cookie, dict):
        return {k: SCRUBBED if k == "value" else v for k, v in cookie.items()}
    return SCRUBBED


def _scrub_text(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        text = text.replace(s, SCRUBBED)
    return text


def _scrub_jsonl(data: bytes, secrets: list[str]) -> bytes:
    lines = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):  # not JSON: the literal pass still applies
            line = json.dumps(_scrub(json.loads(line)), ensure_ascii=False,
                              separators=(",", ":")) if line.strip() else line
        lines.append(_scrub_text(line, secrets))
    return ("\n".join(lines) + "\n").encode()


def _secret_values(secrets: Iterable[str]) -> list[str]:
    # Longest first, so a value containing another is replaced whole; short values
    # (a one-letter token) would shred the archive and are covered structurally.
    return sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)


def scrub_trace(archive: bytes, secrets: Iterable[str] = ()) -> bytes:
    """A Playwright trace (a zip) with secret headers and cookies scrubbed in every
    member, and the given secret values replaced wherever they appear."""
    values = _secret_values(secrets)
    raw = [v.encode() for v in values]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith((".trace", ".network", ".stacks", ".json")):
                data = _scrub_jsonl(data, values)
            for secret in raw:
                data = data.replace(secret, SCRUBBED.encode())
            dst.writestr(info.filename, data)
    return out.getvalue()


def scrub_har(har: bytes, secrets: Iterable[str] = ()) -> bytes:
    values = _secret_values(secrets)
    try:
        doc = _scrub(json.loads(har))
    except ValueError:
        return _scrub_text(har.decode("utf-8", errors="replace"), values).encode()
    return _scrub_text(json.dumps(doc, ensure_ascii=False, indent=1), values).encode()


def meta(rid: str, doc: Mapping[str, Any]) -> bytes:
    """``meta.json``: what the check saw, so the evidence explains itself."""
    return json.dumps({"result": rid, "saved_at_ms": time.time_ns() // 1_000_000, **doc},
                      ensure_ascii=False, indent=1).encode()
