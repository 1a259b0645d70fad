"""``slaguard run`` that cannot start says why in one line and exits 2.

Every case makes the real condition and runs the real command in a subprocess:

- a port in use (``run`` and ``demo``): a socket bound and listening on it;
- a directory where the record's file should be; a regular file where its
  directory should be; a file that is not a database;
- an unreadable record (chmod 000) and a directory that is not writable
  (chmod 555): root ignores permissions, so as root the command runs in a user
  namespace of its own (``unshare --user``, no mapping), where the real root's
  files get their owner bits; skipped where user namespaces are not allowed;
- a read-only file system and a full one: a tmpfs mounted read-only, and a
  tiny tmpfs filled to the last byte, in a private mount namespace
  (``unshare``; skipped where mounting is not allowed).

Each must end with exactly the expected ``error:`` line, exit 2, and leave no
traceback and no "Unclosed client session" warning.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SLAGUARD = str(Path(sys.executable).parent / "slaguard")
TIMEOUT_S = 60


@pytest.fixture
def base() -> Iterator[Path]:
    """A scratch directory, emptied afterwards even where a case took permissions away."""
    d = Path(tempfile.mkdtemp(prefix="slaguard-start-"))
    yield d
    for p in d.rglob("*"):  # chmod 000 and 555 leftovers
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(d)


def config(base: Path, store: str, listen: str = "127.0.0.1:0") -> Path:
    path = base / "slaguard.yaml"
    path.write_text(f"""\
version: 1
storage: {{path: "{store}"}}
server: {{listen: "{listen}"}}
services: {{core: {{availability: 99.9%}}}}
targets:
  - {{name: web, service: core, kind: http, url: "http://127.0.0.1:9/", interval: 5s, timeout: 2s}}
""", encoding="utf-8")
    return path


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def assert_refused(done: subprocess.CompletedProcess[str], expected: str) -> None:
    err = done.stderr
    assert done.returncode == 2, err
    assert err.strip().splitlines()[-1] == expected, err
    assert [x for x in err.splitlines() if x.startswith("error:")] == [expected]
    for noise in ("Traceback", "Unclosed", "Task was destroyed"):
        assert noise not in err, err


def test_port_in_use(base: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        cfg = config(base, str(base / "slaguard.db"), f"127.0.0.1:{port}")
        done = run([SLAGUARD, "run", "-c", str(cfg)])
    assert_refused(done, f"error: cannot listen on 127.0.0.1:{port}: address already in use "
                         "(server.listen; stop the other process or choose another port)")


def test_demo_on_a_port_in_use(base: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        done = run([SLAGUARD, "demo", "--port", str(port), "--data-dir", str(base / "demo")])
    assert_refused(done, f"error: cannot listen on 127.0.0.1:{port}: address already in use "
                         "(server.listen; stop the other process or choose another port)")


def test_a_directory_where_the_record_should_be(base: Path) -> None:
    store = base / "data" / "slaguard.db"
    store.mkdir(parents=True)
    done = run([SLAGUARD, "run", "-c", str(config(base, str(store)))])
    assert_refused(done, f"error: cannot open the record {store}: it is a directory, not a "
                         f"file (storage.path; point it at a file, e.g. {store}/slaguard.db)")


def test_a_file_where_its_directory_should_be(base: Path) -> None:
    (base / "data").write_text("not a directory")
    store = base / "data" / "slaguard.db"
    done = run([SLAGUARD, "run", "-c", str(config(base, str(store)))])
    assert_refused(done, f"error: cannot open the record {store}: {base / 'data'} is a file, "
                         "not a directory (storage.path; point it below a directory)")


def test_a_file_that_is_not_a_record(base: Path) -> None:
    store = base / "slaguard.db"
    store.write_bytes(b"these are notes, not a database\n" * 64)
    done = run([SLAGUARD, "run", "-c", str(config(base, str(store)))])
    assert_refused(done, f"error: cannot open the record {store}: it is not a slaguard record "
                         "(not an SQLite file, or damaged) (storage.path; point it at the "
                         "record, or move this file away)")


# -- permissions: root's disregard for them set aside ----------------------------------


def unprivileged() -> tuple[list[str], str]:
    """A command prefix under which permission bits hold, and the user name the command
    will see.  As root: a user namespace of its own with no mapping, where root's
    capabilities do not reach files of the real root, so their owner bits apply."""
    whoami = [sys.executable, "-c", "import os, pwd; print(pwd.getpwuid(os.geteuid()).pw_name)"]
    prefix: list[str] = []
    if os.geteuid() == 0:
        unshare = shutil.which("unshare")
        if unshare is None:
            pytest.skip("running as root and unshare (util-linux) is not installed")
        prefix = [unshare, "--user"]
    probe = run([*prefix, *whoami])
    if probe.returncode != 0:
        pytest.skip(f"cannot set root's privileges aside: {probe.stderr.strip()[-200:]}")
    return prefix, probe.stdout.strip()


def test_an_unreadable_record(base: Path) -> None:
    prefix, user = unprivileged()
    store = base / "slaguard.db"
    done = run([SLAGUARD, "import-results", "-c", str(config(base, str(store))), os.devnull])
    assert done.returncode == 0, done.stderr  # a real record, made by slaguard
    store.chmod(0o000)
    done = run([*prefix, SLAGUARD, "run", "-c", str(config(base, str(store)))])
    assert_refused(done, f"error: cannot open the record {store}: permission denied "
                         f"(storage.path; let the user {user} read and write it)")


def test_a_directory_not_writable(base: Path) -> None:
    prefix, user = unprivileged()
    data = base / "data"
    data.mkdir()
    data.chmod(0o555)
    store = data / "slaguard.db"
    done = run([*prefix, SLAGUARD, "run", "-c", str(config(base, str(store)))])
    assert_refused(done, f"error: cannot open the record {store}: its directory {data} is not "
                         f"writable for {user} (storage.path; make it writable, or point it "
                         "elsewhere)")


# -- file systems: a private tmpfs -------------------------------------------------------


def in_private_mount(script: str) -> list[str]:
    """``sh -c script`` in a mount namespace of its own (nothing leaks on failure)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) not installed")
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    argv = [unshare, *user, "--mount", "--propagation", "private", "sh", "-c"]
    probe = run([*argv, f"mount -t tmpfs tmpfs {shlex.quote(tempfile.gettempdir())}"])
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.strip()[-200:]}")
    return [*argv, script]


def test_a_read_only_file_system(base: Path) -> None:
    data = base / "data"
    data.mkdir()
    store = data / "slaguard.db"
    cfg = config(base, str(store))
    done = run(in_private_mount(f"mount -t tmpfs -o ro tmpfs {data} && "
                                f"exec {SLAGUARD} run -c {cfg}"))
    assert_refused(done, f"error: cannot open the record {store}: {data} is on a read-only "
                         "file system (storage.path; remount it read-write, or point it "
                         "elsewhere)")


def test_a_full_file_system(base: Path) -> None:
    data = base / "data"
    data.mkdir()
    store = data / "slaguard.db"
    cfg = config(base, str(store))
    done = run(in_private_mount(
        f"mount -t tmpfs -o size=64k tmpfs {data} && "
        f"(dd if=/dev/zero of={data}/filler bs=4k 2>/dev/null || true) && "
        f"exec {SLAGUARD} run -c {cfg}"))
    assert_refused(done, f"error: cannot open the record {store}: the disk is full "
                         "(storage.path; free space on its file system, or point it at another)")
