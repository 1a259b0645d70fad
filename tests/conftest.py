"""Shared test fixtures: golden files, free ports and real external binaries."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import settings

# Property tests judge results, not speed: on a busy 2-core machine one example can
# take longer than hypothesis's default 200 ms deadline without anything being wrong
# (performance is measured in bench/).
settings.register_profile("slaguard", deadline=None)
settings.load_profile("slaguard")

ROOT = Path(__file__).resolve().parent.parent
# The original reference configuration, byte for byte: accepted as it stands.
REFERENCE_CONFIG = ROOT / "tests" / "config" / "reference" / "slaguard.example.yaml"
# The repository's own reference: every section and key, commented.
EXAMPLE_CONFIG = ROOT / "examples" / "slaguard.yaml"
REQUIRE_INTEGRATION = os.environ.get("SLAGUARD_REQUIRE_INTEGRATION") == "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite golden files from the current output (review the diff)")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve_local(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on a loopback port the kernel picks (no race); stop it with
    ``runner.cleanup()``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


def require_binary(*names: str) -> str:
    """Path of the first binary found; skip (or fail under CI) when none is."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    message = f"{' or '.join(names)} not installed (Debian package; .ci/run installs it)"
    if REQUIRE_INTEGRATION:
        pytest.fail(f"SLAGUARD_REQUIRE_INTEGRATION=1 but {message}")
    pytest.skip(message)


def check_golden(path: Path, actual: str, update: bool) -> None:
    if update or not path.exists():
        if not update and REQUIRE_INTEGRATION:
            pytest.fail(f"golden file {path} missing; run pytest --update-golden and review")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path} differs; run pytest --update-golden and review the diff"


def require_cjk_font() -> None:
    """A font covering Chinese for PDF statements; skip (or fail under CI) without one."""
    from exporters.statement_pdf import FontConfig

    require_binary("fc-list")
    if not FontConfig().families("补偿"):
        message = "no CJK font installed (Debian: fonts-noto-cjk)"
        if REQUIRE_INTEGRATION:
            pytest.fail(f"SLAGUARD_REQUIRE_INTEGRATION=1 but {message}")
        pytest.skip(message)


def api_config(tmp: Path, staff_token: str, customer_token: str = "acme-token"
               ) -> dict[str, Any]:
    """The smallest configuration with every API route on: one service, one target
    nobody listens on, staff and one customer (acme) with their tokens, no workers."""
    return {
        "version": 1,
        "storage": {"path": str(tmp / "slaguard.db")},
        "server": {"api_token": staff_token},
        "scheduling": {"workers": 0},
        "services": {"core": {"availability": "99.9%"}},
        "targets": [{"name": "web", "service": "core", "kind": "http",
                     "url": "http://127.0.0.1:9/"}],
        "customers": [{"id": "acme", "name": "Acme", "monthly_fee": "100.00",
                       "services": ["core"], "token": customer_token}],
    }
