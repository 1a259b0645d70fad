"""A small fake of Grafana's HTTP API: the endpoints ``grafana.publish`` uses, nothing more.

A real aiohttp server on loopback that keeps folders, dashboards and annotations
in memory, answers as Grafana does (status codes, ``message`` bodies, ``url`` of
a saved dashboard) and records every request.  It checks the request shapes
publish relies on; that Grafana accepts the dashboards themselves is checked by
running their queries against a real Prometheus (test_dashboard_queries.py),
since no Grafana server can run here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class FakeGrafana:
    authorization: str  # the one header value accepted, e.g. "Bearer t0ken"
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    # -- plumbing -------------------------------------------------------------------

    @web.middleware
    async def record_and_authorise(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        query: dict[str, list[str]] = {}
        for k, v in request.query.items():
            query.setdefault(k, []).append(v)
        self.requests.append(Recorded(request.method, request.path, query, body,
                                      request.headers.get("Authorization")))
        if request.headers.get("Authorization") != self.authorization:
            return web.json_response({"message": "Unauthorized"}, status=401)
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.record_and_authorise])
        app.router.add_get("/api/folders/{uid}", self.get_folder)
        app.router.add_post("/api/folders", self.create_folder)
        app.router.add_put("/api/folders/{uid}", self.update_folder)
        app.router.add_post("/api/dashboards/db", self.save_dashboard)
        app.router.add_get("/api/annotations", self.find_annotations)
        app.router.add_post("/api/annotations", self.add_annotation)
        app.router.add_put("/api/annotations/{id}", self.update_annotation)
        return app

    def calls(self, method: str, path_prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(
            path_prefix)]

    # -- folders ----------------------------------------------------------------------

    async def get_folder(self, request: web.Request) -> web.Response:
        folder = self.folders.get(request.match_info["uid"])
        if folder is None:
            return web.json_response({"message": "folder not found"}, status=404)
        return web.json_response(folder)

    async def create_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        uid = body.get("uid") or f"f{len(self.folders)}"
        if uid in self.folders:
            return web.json_response({"message": "a folder with the same uid already exists"},
                                     status=409)
        self.folders[uid] = {"id": len(self.folders) + 1, "uid": uid, "title": body["title"],
                             "version": 1}
        return web.json_response(self.folders[uid])

    async def update_folder(self, request: web.Request) -> web.Response:
        folder = self.folders.get(request.match_info["uid"])
        if folder is None:
            return web.json_response({"message": "folder not found"}, status=404)
        body = await request.json()
        folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
        return web.json_response(folder)

    # -- dashboards ---------------------------------------------------------------------

    async def save_dashboard(self, request: web.Request) -> web.Response:
        body = await request.json()
        dash, folder_uid = body.get("dashboard") or {}, body.get("folderUid")
        if not dash.get("title") or not dash.get("uid"):
            return web.json_response({"message": "Dashboard title cannot be empty"}, status=400)
        if folder_uid and folder_uid not in self.folders:
            return web.json_response({"message": "folder not found"}, status=400)
        old = self.dashboards.get(dash["uid"])
        if old is not None and not body.get("overwrite"):
            return web.json_response({"message": "A dashboard with the same uid already exists",
                                      "status": "name-exists"}, status=412)
        version = 1 if old is None else old["version"] + 1
        self.dashboards[dash["uid"]] = {"dashboard": dash, "folderUid": folder_uid,
                                        "version": version}
        slug = re.sub(r"[^a-z0-9]+", "-", dash["title"].lower()).strip("-")
        return web.json_response({"id": len(self.dashboards), "uid": dash["uid"],
                                  "url": f"/d/{dash['uid']}/{slug}", "status": "success",
                                  "version": version})

    # -- annotations --------------------------------------------------------------------

    async def find_annotations(self, request: web.Request) -> web.Response:
        # Grafana: an annotation matches when it has every requested tag (matchAny=false).
        wanted = set(request.query.getall("tags", []))
        limit = int(request.query.get("limit", 100))
        found = [{"id": i, **a} for i, a in sorted(self.annotations.items())
                 if wanted <= set(a["tags"])]
        return web.json_response(found[:limit])

    async def add_annotation(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body.get("time"), int):
            return web.json_response({"message": "time must be epoch ms"}, status=400)
        new_id = len(self.annotations) + 1
        self.annotations[new_id] = {"time": body["time"], "timeEnd": body.get("timeEnd"),
                                    "tags": list(body.get("tags") or []),
                                    "text": body.get("text", "")}
        return web.json_response({"id": new_id, "message": "Annotation added"})

    async def update_annotation(self, request: web.Request) -> web.Response:
        ident = int(request.match_info["id"])
        if ident not in self.annotations:
            return web.json_response({"message": "Annotation not found"}, status=404)
        body = await request.json()
        self.annotations[ident].update(time=body["time"], timeEnd=body.get("timeEnd"),
                                       tags=list(body.get("tags") or []), text=body["text"])
        return web.json_response({"message": "Annotation updated"})
