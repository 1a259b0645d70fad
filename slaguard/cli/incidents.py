"""``slaguard incidents``: list, show, acknowledge, restore and resolve incidents
through the running slaguard's HTTP API, so on-call needs no curl.

    slaguard incidents list [--open]
    slaguard incidents show ID
    slaguard incidents ack ID [--by NAME] [--note TEXT]
    slaguard incidents restore ID [--by NAME] [--note TEXT]
    slaguard incidents resolve ID [--by NAME] [--note TEXT]

Every one takes ``-c FILE`` (default ``./slaguard.yaml``), ``--url`` (default:
the configuration's ``server.public_url``, else ``server.listen``), ``--token``
(default: ``$SLAGUARD_API_TOKEN``, else ``server.api_token``; for list and show
``server.read_token`` first) and ``--json``
(the API's reply as it is).  The configuration is read only for what the
options leave open, so ``--url`` and ``$SLAGUARD_API_TOKEN`` work from any
machine.  ``ID`` is ``INC-7`` or ``7``.

Exit codes: 0 done; 1 the server refused (wrong token, write API off, the
incident is resolved: 409) or failed (unreachable, 5xx); 2 usage, the
configuration, or an incident that does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerting import links
from alerting.incidents import IncidentNotFound
from slaguard import __version__
from slaguard.cli.common import EXIT_OK, UsageError, default_actor, load
from slaguard.config import Config, ConfigError
from slaguard.errors import SlaguardError

DEFAULT_CONFIG = "slaguard.yaml"  # as every other command's -c
TOKEN_ENV = "SLAGUARD_API_TOKEN"
TIMEOUT_S = 15.0
_ID = re.compile(r"^(?:INC-)?([0-9]+)$", re.IGNORECASE)
# Subcommand → (API action, what the incident has become, who and when).
_CHANGES: Mapping[str, tuple[str, str, str, str]] = {
    "ack": ("acknowledge", "acknowledged", "responded_by", "responded"),
    "restore": ("restore", "restored", "restored_by", "restored"),
    "resolve": ("resolve", "resolved", "resolved_by", "resolved"),
}


class ServerRefused(SlaguardError):
    """The server said no, or could not be asked (exit 1)."""


# -- arguments ------------------------------------------------------------------------------


def add_incidents_arguments(p: argparse.ArgumentParser) -> None:
    """``slaguard incidents``: its subcommands, each with -c/--url/--token/--json."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=DEFAULT_CONFIG,
                        help=f"configuration file (default ./{DEFAULT_CONFIG}); read only "
                             "for a default --url or --token")
    common.add_argument("--url", help="slaguard's base URL (default: server.public_url, "
                                      "else server.listen of the configuration)")
    common.add_argument("--token", help=f"API token (default: ${TOKEN_ENV}, else "
                                        "server.api_token of the configuration)")
    common.add_argument("--json", action="store_true", help="print the API's JSON reply")
    sub = p.add_subparsers(dest="incidents_command", required=True, metavar="COMMAND")
    sp = sub.add_parser("list", parents=[common], help="incidents, newest first")
    sp.add_argument("--open", action="store_true", help="only those not yet resolved")
    sp = sub.add_parser("show", parents=[common], help="one incident with its audit log")
    sp.add_argument("id", help="INC-7 or 7")
    for name, (_, done, _, _) in _CHANGES.items():
        sp = sub.add_parser(name, parents=[common], help=f"mark an incident {done}")
        sp.add_argument("id", help="INC-7 or 7")
        sp.add_argument("--by", default=default_actor(), help="who (default: $USER)")
        sp.add_argument("--note", default="", help="kept in the incident's audit log")


# -- talking to the server ------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    base: str
    token: str | None

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None,
             incident: str | None = None) -> Any:
        """The reply's JSON; :class:`ServerRefused` for a refusal or a failure,
        :class:`IncidentNotFound` when ``incident`` does not exist."""
        headers = {"Accept": "application/json", "User-Agent": f"slaguard-cli/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        url = self.base + path
        request = urllib.request.Request(url, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
                return _json(resp.read(), url)
        except urllib.error.HTTPError as e:
            raise self._refused(e, url, incident) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServerRefused(f"cannot reach slaguard at {self.base}: {reason} "
                                "(--url, or server.public_url / server.listen)") from None

    def _refused(self, e: urllib.error.HTTPError, url: str,
                 incident: str | None) -> SlaguardError:
        try:
            message = str(json.loads(e.read()).get("error") or e.reason)
        except (ValueError, AttributeError, OSError):
            message = str(e.reason)
        if e.code == 404 and incident is not None:
            return IncidentNotFound(f"no incident {incident} at {self.base}")
        if e.code == 400:
            return UsageError(f"the server refused the request: {message}")
        if e.code == 401:
            return ServerRefused(f"the server refused the token (401): pass --token, set "
                                 f"${TOKEN_ENV} or server.api_token")
        return ServerRefused(f"{url}: {e.code} {message}")


def _json(raw: bytes, url: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ServerRefused(f"{url}: not a slaguard API reply (check --url)") from None


def incident_id(value: str) -> str:
    m = _ID.match(value.strip())
    if m is None:
        raise UsageError(f"not an incident id: {value!r} (INC-7 or 7)")
    return f"INC-{int(m.group(1))}"


def _config(args: argparse.Namespace, cache: list[Config]) -> Config:
    if not cache:
        cache.append(load(args.config))
    return cache[0]


def client_for(args: argparse.Namespace, write: bool) -> Client:
    """The URL and token from the options, the environment, then the configuration (for a
    read ``server.read_token`` first: reads are staff read, README "Security")."""
    cache: list[Config] = []
    base = args.url
    if not base:
        server = _config(args, cache).server
        base = links.local_base_url(server.public_url, server.listen)
    if not re.match(r"^https?://[^\s/]+", base):
        raise UsageError(f"--url: expected http(s)://host[:port], got {base!r}")
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        setting = "server.api_token" if write else "server.read_token or server.api_token"
        missing = f"no API token: pass --token, set ${TOKEN_ENV}, or set {setting} in"
        try:
            server = _config(args, cache).server
        except ConfigError as e:  # with --url, the token is the only reason to read it
            raise UsageError(f"{missing} the configuration ({'; '.join(e.errors)})") from None
        token = server.api_token if write else (server.read_token or server.api_token)
        if not token:
            raise UsageError(f"{missing} {args.config}")
    return Client(base.rstrip("/"), token or None)


# -- printing -----------------------------------------------------------------------------


def _row(doc: Mapping[str, Any]) -> list[str]:
    return [doc["id"], doc["priority"], doc["state"], doc["service"], doc["opened"] or "-",
            doc["title"]]


def table(docs: Sequence[Mapping[str, Any]]) -> str:
    rows = [["ID", "PRI", "STATE", "SERVICE", "OPENED", "TITLE"]] + [_row(d) for d in docs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]])
                     for r in rows)


def _when(doc: Mapping[str, Any], key: str, by: str | None, due: str) -> str:
    at = doc.get(key)
    text = "-" if at is None else at + (f" by {doc[by]}" if by and doc.get(by) else "")
    due_at = doc["due"].get(due)
    late = doc["late_seconds"].get(due)
    if due_at:
        text += f"   (due {due_at}" + (f", late {late} s)" if late else ")")
    return text


def _clocks(doc: Mapping[str, Any]) -> str | None:
    parts = []
    if doc.get("restore_after_seconds") is not None:
        parts.append(f"restored once clear for {doc['restore_after_seconds']} s")
    if doc.get("auto_resolve_after_seconds") is not None:
        parts.append(f"resolves by itself {doc['auto_resolve_after_seconds']} s after")
    if doc.get("auto_resolve_at"):
        parts.append(f"at {doc['auto_resolve_at']}")
    return "; ".join(parts) or None


def detail(doc: Mapping[str, Any]) -> str:
    esc = doc["escalation"]
    rows: list[tuple[str, str | None]] = [
        ("title", doc["title"]), ("summary", doc.get("summary") or None),
        ("service", f"{doc['service']} (rule {doc['rule']}, source {doc['source']})"),
        ("opened", doc["opened"]),
        ("acknowledged", _when(doc, "responded", "responded_by", "respond")),
        ("restored", _when(doc, "restored", "restored_by", "restore")),
        ("resolved", _when(doc, "resolved", "resolved_by", "resolve")),
        ("escalation", f"level {esc['level']}" + (f", next {esc['next']}" if esc["next"]
                                                   else "")),
        ("automatic", _clocks(doc)), ("link", doc.get("url")),
        ("acknowledge", (doc.get("acknowledge") or {}).get("command")),
    ]
    rows += [(f"label {k}", v) for k, v in sorted(doc.get("labels", {}).items())]
    lines = [f"{doc['id']}  {doc['priority']}  {doc['state']}"]
    lines += [f"  {label:<13} {value}" for label, value in rows if value]
    if doc.get("log"):
        lines.append("  log")
        for e in doc["log"]:
            extra = " ".join(f"{k}={v}" for k, v in e["detail"].items() if v is not None)
            lines.append(f"    {e['at']}  {e['kind']:<16} {e['actor']}  {extra}".rstrip())
    return "\n".join(lines)


def changed(command: str, doc: Mapping[str, Any], by: str) -> str:
    _, done, who, when = _CHANGES[command]
    actor = doc.get(who)
    line = f"{doc['id']} {done} at {doc.get(when)}"
    if actor and actor != by:  # someone was first: this call changed nothing
        line = f"{doc['id']} was already {done} by {actor} at {doc.get(when)}"
    elif actor:
        line += f" by {actor}"
    return line + f" (now {doc['state']})"


# -- the command ----------------------------------------------------------------------------


def _emit(doc: Any, args: argparse.Namespace, text: Callable[[], str]) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2) if args.json else text())


def cmd_incidents(args: argparse.Namespace) -> int:
    command = args.incidents_command
    if command == "list":
        client = client_for(args, write=False)
        doc = client.call("GET", "/api/v1/incidents" + ("?state=open" if args.open else ""))
        _emit(doc, args, lambda: table(doc["incidents"]) if doc["incidents"]
              else "no open incidents" if args.open else "no incidents")
        return EXIT_OK
    public_id = incident_id(args.id)
    if command == "show":
        client = client_for(args, write=False)
        doc = client.call("GET", f"/api/v1/incidents/{public_id}", incident=public_id)
        _emit(doc, args, lambda: detail(doc["incident"]))
        return EXIT_OK
    client = client_for(args, write=True)
    action = _CHANGES[command][0]
    body = {"by": args.by} | ({"note": args.note} if args.note else {})
    doc = client.call("POST", f"/api/v1/incidents/{public_id}/{action}", body,
                      incident=public_id)
    _emit(doc, args, lambda: changed(command, doc["incident"], args.by))
    return EXIT_OK
