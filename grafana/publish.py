"""``slaguard grafana publish``: put the dashboards and annotations into a running Grafana.

Idempotent, so it can run on every deploy: the folder is created or renamed,
dashboards are saved with ``overwrite`` (their ``uid`` decides insert or
update), and each annotation carries an ``id:<key>`` tag by which a second run
finds and updates it instead of adding a duplicate.  Annotations are
organisation-wide (no dashboard id): every dashboard's tag queries show them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grafana.build import dashboards as build_dashboards
from grafana.build import load
from grafana.dashboards import (
    FOLDER_TITLE,
    FOLDER_UID,
    INCIDENT_TAG,
    MAINTENANCE_TAG,
    TAG,
)
from slaguard.config.schema import Config, MaintenanceWindow
from slaguard.errors import SlaguardError

if TYPE_CHECKING:
    from grafana_client import GrafanaApi

# A token (Bearer), (user, password) (Basic), or None for credentials in the URL.
Auth = str | tuple[str, str] | None
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


class PublishError(SlaguardError):
    pass


@dataclass(frozen=True)
class Annotation:
    key: str  # unique per annotation: becomes the "id:<key>" tag
    start_ms: int
    end_ms: int | None
    tags: tuple[str, ...]
    text: str

    @property
    def all_tags(self) -> list[str]:
        return [TAG, *self.tags, f"id:{_TAG_UNSAFE.sub('_', self.key)}"]


@dataclass
class Published:
    folder_uid: str
    dashboards: list[str] = field(default_factory=list)  # URLs Grafana returned
    annotations_created: int = 0
    annotations_updated: int = 0


# -- annotations from slaguard's data ------------------------------------------------


def epoch_ms(value: datetime | int | str) -> int:
    """Epoch milliseconds from an aware datetime, an RFC 3339 string or epoch ms."""
    if isinstance(value, int):
        return value
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    if dt.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {value!r}")
    return int(dt.timestamp() * 1000)


def maintenance_annotation(w: MaintenanceWindow) -> Annotation:
    announced = f"; announced {w.announced.isoformat()}" if w.announced else ""
    title = f": {w.title}" if w.title else ""
    return Annotation(
        key=f"maintenance-{w.id}", start_ms=epoch_ms(w.start), end_ms=epoch_ms(w.end),
        tags=(MAINTENANCE_TAG, *(f"service:{s}" for s in w.services)),
        text=f"计划维护 / Planned maintenance {w.id} ({', '.join(w.services)}){title}"
             f"{announced}")


def incident_annotation(incident: Mapping[str, Any]) -> Annotation:
    """From a dict with ``id``, ``start`` and optional ``end``, ``title``, ``priority``,
    ``service``; times as aware datetimes, RFC 3339 strings or epoch ms.  Without
    ``end`` the incident is open: a point annotation at its start."""
    try:
        ident, start = str(incident["id"]), epoch_ms(incident["start"])
    except KeyError as e:
        raise PublishError(f"incident {dict(incident)!r}: missing {e.args[0]!r}") from None
    end = incident.get("end")
    priority, service = incident.get("priority"), incident.get("service")
    tags = [INCIDENT_TAG]
    if priority:
        tags.append(str(priority))
    if service:
        tags.append(f"service:{service}")
    head = " ".join(str(x) for x in (priority, ident) if x)
    text = f"{head} {service}: {incident.get('title', '')}" if service else \
        f"{head}: {incident.get('title', '')}"
    return Annotation(key=f"incident-{ident}", start_ms=start,
                      end_ms=None if end is None else epoch_ms(end), tags=tuple(tags),
                      text=text.rstrip(": ") + ("" if end is not None else " (open)"))


# -- Grafana calls -----------------------------------------------------------------------


def connect(url: str, auth: Auth, timeout: float = 10.0) -> GrafanaApi:
    from grafana_client import GrafanaApi

    # A sub-path URL needs its trailing slash, or the client calls /grafanaapi/...
    base = url if url.endswith("/") else url + "/"
    return GrafanaApi.from_url(base, credential=auth, timeout=timeout)


def ensure_folder(api: GrafanaApi, uid: str, title: str) -> None:
    from grafana_client.client import GrafanaClientError

    try:
        folder = api.folder.get_folder(uid)
    except GrafanaClientError as e:
        if e.status_code != 404:
            raise
        api.folder.create_folder(title, uid=uid)
        return
    if folder.get("title") != title:
        api.folder.update_folder(uid, title=title, overwrite=True)


def save_dashboard(api: GrafanaApi, dashboard: dict[str, Any], folder_uid: str) -> str:
    body = {k: v for k, v in dashboard.items() if k != "id"}  # uid decides, never id
    resp = api.dashboard.update_dashboard({
        "dashboard": body, "folderUid": folder_uid, "overwrite": True,
        "message": "slaguard grafana publish"})
    return str(resp.get("url", ""))


def upsert_annotation(api: GrafanaApi, a: Annotation) -> bool:
    """Create or update; True when it was created."""
    tags = a.all_tags
    found = api.annotations.find_annotations(tags=[TAG, tags[-1]], ann_type="annotation",
                                             limit=10)
    end = a.end_ms if a.end_ms is not None else a.start_ms
    if found:
        api.annotations.update_annotation(found[0]["id"], time_from=a.start_ms, time_to=end,
                                          tags=tags, text=a.text)
        return False
    api.annotations.add_annotation(time_from=a.start_ms, time_to=end, tags=tags, text=a.text)
    return True


def publish(url: str, auth: Auth, dashboards_dir: Path | None, *,
            cfg: Config | None = None,
            maintenance: Sequence[MaintenanceWindow] = (),
            incidents: Iterable[Mapping[str, Any]] = (),
            folder_uid: str = FOLDER_UID, folder_title: str = FOLDER_TITLE,
            timeout: float = 10.0) -> Published:
    """Folder, dashboards, then annotations.

    The dashboards are every ``*.json`` in ``dashboards_dir`` (as ``build`` wrote
    them), or with ``dashboards_dir=None`` built now from ``cfg``.
    """
    from grafana_client.client import GrafanaException
    from niquests.exceptions import RequestException

    if dashboards_dir is None:
        dashboards = list(build_dashboards(cfg).values())
    else:
        dashboards = load(dashboards_dir)
    if not dashboards:
        raise PublishError(f"{dashboards_dir}: no dashboard JSON files (run grafana build)")
    notes = [maintenance_annotation(w) for w in maintenance]
    notes += [incident_annotation(i) for i in incidents]
    api = connect(url, auth, timeout)
    out = Published(folder_uid)
    step = f"folder {folder_uid}"
    try:
        ensure_folder(api, folder_uid, folder_title)
        for d in dashboards:
            step = f"dashboard {d.get('uid')}"
            out.dashboards.append(save_dashboard(api, d, folder_uid))
        for a in notes:
            step = f"annotation {a.key}"
            if upsert_annotation(api, a):
                out.annotations_created += 1
            else:
                out.annotations_updated += 1
    except (GrafanaException, RequestException) as e:
        # A refused connection is not wrapped by grafana-client: catch it too.
        raise PublishError(f"{url}: {step}: {e}") from e
    return out
