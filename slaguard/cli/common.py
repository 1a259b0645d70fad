"""What every command shares: exit codes, loading the configuration, opening the
record, who acts.

Exit codes, the same for every command:

- 0: done.
- 1: the command ran and the answer is no: a probe failed, an import file has
  a bad line (nothing imported), a claim step or a statement's state refuses
  (the API's 409), publishing to Grafana failed.
- 2: the command cannot run as asked: usage, the configuration, a thing named
  that does not exist (target, service, customer, claim, statement version,
  month), a file or record that cannot be opened, a port in use.

Every error is one line on stderr, ``error: …``, naming the thing and the fix;
a configuration's errors are listed one per line under ``FILE: N error(s)``.
"""

from __future__ import annotations

import errno
import os
import pwd
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

from alerting.incidents import IncidentNotFound
from compensation.claims import ClaimNotFound
from compensation.lifecycle import NoSuchVersion
from compensation.statements import UnknownCustomer
from slaguard.config import Config, ConfigError, load_config
from slaguard.errors import ImportFileError, SlaguardError, StoreError
from slaguard.server import ListenError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

T = TypeVar("T")


class UsageError(SlaguardError):
    """The command cannot run as asked (exit 2)."""


# A thing the command line named that is not there: usage, not a failed check.
_NOT_FOUND = (UnknownCustomer, ClaimNotFound, NoSuchVersion, IncidentNotFound)


def exit_code(e: SlaguardError) -> int:
    if isinstance(e, (ConfigError, UsageError, ListenError, *_NOT_FOUND)):
        return EXIT_USAGE
    if isinstance(e, ImportFileError) and e.line == 0:  # the file itself cannot be read
        return EXIT_USAGE
    return EXIT_FAIL


def load(path: str) -> Config:
    cfg, warnings = load_config(path)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    return cfg


def default_actor() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "cli"


# -- files and the record ---------------------------------------------------------------


def os_problem(e: OSError) -> str:
    """``PATH: reason`` for a path the command was given (-o DIR, a file to read)."""
    reason = os.strerror(e.errno).lower() if e.errno else str(e)
    return f"{e.filename}: {reason}" if e.filename else reason


def readable(path: str) -> str:
    """``path``, or :class:`UsageError` naming why it cannot be read."""
    try:
        with open(path, "rb"):
            return path
    except OSError as e:
        raise UsageError(f"cannot read {os_problem(e)}") from None


def readable_dir(path: str) -> str:
    """``path``, or :class:`UsageError` when it is no directory to read."""
    try:
        os.listdir(path)
        return path
    except OSError as e:
        raise UsageError(f"cannot read {os_problem(e)}") from None


def _existing(p: Path) -> Path:
    """``p`` or its nearest ancestor that exists."""
    return next((a for a in (p, *p.parents) if a.exists()), Path("/"))


def _user() -> str:
    """Who this process runs as (not $USER: a service may run as another)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _diagnosis(p: Path, e: BaseException) -> tuple[str, str]:
    """Why the record at ``p`` cannot be opened, and what to do, read off the file
    system as it is now (sqlite's own words rarely say which)."""
    text = str(e).lower()
    code = e.errno if isinstance(e, OSError) else None
    user = _user()
    blocker = next((a for a in p.parents if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        return f"{blocker} is a file, not a directory", "point it below a directory"
    if p.is_dir():
        return "it is a directory, not a file", f"point it at a file, e.g. {p / 'slaguard.db'}"
    if code == errno.ENOSPC or "disk is full" in text:
        return "the disk is full", "free space on its file system, or point it at another"
    if p.exists() and not os.access(p, os.R_OK | os.W_OK):
        return "permission denied", f"let the user {user} read and write it"
    where = _existing(p.parent)
    if code == errno.EROFS or os.statvfs(where).f_flag & os.ST_RDONLY:
        return (f"{where} is on a read-only file system",
                "remount it read-write, or point it elsewhere")
    if not os.access(where, os.W_OK | os.X_OK):  # sqlite writes its journal beside the file
        return (f"its directory {where} is not writable for {user}",
                "make it writable, or point it elsewhere")
    if "not a database" in text:
        return ("it is not a slaguard record (not an SQLite file, or damaged)",
                "point it at the record, or move this file away")
    return str(e), "check the path"


def record_problem(path: str, e: BaseException) -> str:
    """One line: which record, why it cannot be opened, the setting and the fix."""
    if isinstance(e, StoreError) and "storage.path" in str(e):
        return str(e)  # already says where and what to do ("no record at …")
    why, fix = _diagnosis(Path(path), e)
    return f"cannot open the record {path}: {why} (storage.path; {fix})"


@contextmanager
def opening_record(path: str) -> Iterator[None]:
    """Around the code that opens the record: what stops it, as :class:`UsageError`."""
    try:
        yield
    except (StoreError, sqlite3.Error, OSError) as e:
        raise UsageError(record_problem(path, e)) from None


@contextmanager
def opened(cm: AbstractContextManager[T], path: str) -> Iterator[T]:
    """``with cm as value``, where only entering (opening the record) is translated by
    :func:`opening_record`; errors of the block stay what they are."""
    with ExitStack() as stack:
        with opening_record(path):
            value = stack.enter_context(cm)
        yield value
