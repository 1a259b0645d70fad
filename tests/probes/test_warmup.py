"""``probes.warm_up``: the one-time set-up, before any clock, with nothing sent to
a target.  That the first probe then reads like a warm one is measured end to
end in tests/core/test_first_probe.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from probes import PROBES, close_connectors, http, warm_up, warmup
from probes._common import _ca_context, _verified_context, ssl_for
from probes.base import ProbeContext
from slaguard.config.schema import HttpTarget
from slaguard.domain import Outcome
from tests.probes.conftest import Origin, Pki, make_target


class _Counting(asyncio.Protocol):
    connections = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        type(self).connections += 1
        transport.close()


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    """A port that counts every connection made to it."""
    _Counting.connections = 0
    server = await asyncio.get_running_loop().create_server(_Counting, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def _every_kind(port: int, ca_file: Path) -> list[Any]:
    base = f"http://127.0.0.1:{port}"
    return [
        make_target("http", f"{base}/"),
        make_target("http", f"{base}/", connection="warm"),
        make_target("http", f"https://localhost:{port}/", tls={"ca_file": str(ca_file)}),
        make_target("http", f"https://127.0.0.1:{port}/", tls={"insecure_skip_verify": True}),
        make_target("upload", f"{base}/upload", size=1024),
        make_target("freshness", f"{base}/backup", timestamp_field="$.finished_at"),
    ]


async def test_it_connects_to_no_target(listener: int, pki: Pki, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    pki.ca.cert_pem.write_to_path(str(ca_file))
    ctx = ProbeContext(location="test-lab")
    try:
        await warm_up(_every_kind(listener, ca_file), ctx)
        await asyncio.sleep(0.05)  # a stray connection would have arrived by now
        assert _Counting.connections == 0
    finally:
        await close_connectors(ctx)


async def test_the_targets_ssl_contexts_are_built_before_any_probe(
        listener: int, pki: Pki, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    pki.ca.cert_pem.write_to_path(str(ca_file))
    targets = _every_kind(listener, ca_file)
    ctx = ProbeContext(location="test-lab")
    try:
        await warm_up(targets, ctx)
    finally:
        await close_connectors(ctx)
    # The system CA store (~29 ms) is loaded even when no target is https:
    # an http target may redirect to https.
    assert _verified_context.cache_info().currsize == 1
    hits = _ca_context.cache_info().hits
    ssl_for(targets[2], ctx)  # what the probe asks for, inside its clock
    assert _ca_context.cache_info().hits == hits + 1


async def test_it_runs_once_per_context(monkeypatch: pytest.MonkeyPatch) -> None:
    rehearsals: list[str] = []
    real = warmup._rehearse

    async def counted(location: str) -> None:
        rehearsals.append(location)
        await real(location)

    monkeypatch.setattr(warmup, "_rehearse", counted)
    one, other = ProbeContext(location="a"), ProbeContext(location="b")
    try:
        await asyncio.gather(warm_up([], one), warm_up([], one))
        await warm_up([], one)
        await warm_up([], other)
    finally:
        await close_connectors(one)
        await close_connectors(other)
    assert rehearsals == ["a", "b"]


async def test_what_cannot_be_warmed_is_skipped_and_probing_goes_on(
        monkeypatch: pytest.MonkeyPatch, origin: Origin, tmp_path: Path) -> None:
    async def no_loopback() -> Any:
        raise OSError("no loopback interface")

    monkeypatch.setattr(warmup, "_serve_locally", no_loopback)
    missing_ca = make_target("http", origin.url("/text"),
                             tls={"ca_file": str(tmp_path / "gone.pem")})
    target = make_target("http", origin.url("/text"))
    assert isinstance(target, HttpTarget)
    ctx = ProbeContext(location="test-lab")
    try:
        await warm_up([missing_ca, target, object()], ctx)  # no exception
        result = await http.run(target, ctx)
    finally:
        await close_connectors(ctx)
    assert result.outcome is Outcome.SUCCESS and result.status_code == 200


def test_every_probe_kind_is_rehearsed_cold_and_warm() -> None:
    targets = warmup._rehearsal_targets("http://127.0.0.1:9/")
    # Every HTTP kind; a browser's warm-up is launching its browser (probes.browser),
    # which an HTTP rehearsal cannot stand in for.
    http_kinds = set(PROBES) - {"browser"}
    assert {t.kind for t in targets} == http_kinds == set(warmup._PROBES)
    assert {t.connection for t in targets} == {"cold", "warm"}


async def test_the_journey_rehearsal_goes_through() -> None:
    """The rehearsal journey passes against the throwaway server (else it would warm
    only half its path)."""
    server, url = await warmup._serve_locally()
    ctx = ProbeContext(location="test-lab")
    try:
        target = next(t for t in warmup._rehearsal_targets(url) if t.kind == "journey")
        result = await warmup._PROBES["journey"](target, ctx)
    finally:
        server.close()
        await server.wait_closed()
    assert result.outcome is Outcome.SUCCESS, result.error
    assert [(s.step, s.attempts) for s in result.steps] == [("start", 1), ("poll", 1)]
