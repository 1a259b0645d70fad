"""Where slaguard can be reached: the base of links in notifications and of the CLI.

``server.public_url`` when configured (behind a proxy or a name on-call can
reach); otherwise built from ``server.listen``.  A wildcard listen address
(``0.0.0.0:9108``) is no address to click on: links name this machine instead,
while a command on this machine (``slaguard incidents``) goes to the loopback.
"""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def reachable(listen: str, wildcard_host: str = "127.0.0.1") -> str:
    """The ``host:port`` that reaches a listener on ``listen``: a wildcard host (all
    addresses) becomes ``wildcard_host``; an IPv6 literal is bracketed."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in _WILDCARDS:
        host = wildcard_host
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}"


def _from_listen(listen: str, wildcard_host: str) -> str:
    return f"http://{reachable(listen, wildcard_host)}"


def public_base_url(public_url: str | None, listen: str) -> str:
    """The base of links people follow (no trailing slash)."""
    if public_url:
        return public_url.rstrip("/")
    return _from_listen(listen, socket.gethostname())


def local_base_url(public_url: str | None, listen: str) -> str:
    """The base a command on this machine talks to (no trailing slash)."""
    if public_url:
        return public_url.rstrip("/")
    return _from_listen(listen, "127.0.0.1")


def incident_url(base: str, public_id: str) -> str:
    """The incident's page: its JSON with the audit log (the API has no HTML page)."""
    return f"{base}/api/v1/incidents/{public_id}"


def ack_command(public_id: str, config_path: str | None, base: str) -> str:
    """The one command that acknowledges: with the server's configuration when its
    path is known (it holds the URL and the token), else with the URL."""
    if config_path:
        return f"slaguard incidents ack {public_id} -c {shlex.quote(str(Path(config_path)))}"
    return f"slaguard incidents ack {public_id} --url {shlex.quote(base)}"


def ack_api(base: str, public_id: str) -> str:
    """The same through the API, for a machine without slaguard installed."""
    return (f'curl -X POST -H "Authorization: Bearer $SLAGUARD_API_TOKEN" '
            f"{incident_url(base, public_id)}/acknowledge")
