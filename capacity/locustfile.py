"""The locustfile a capacity job runs, generated from the configuration.

The generated file is self-contained: it imports only ``locust`` and the standard
library, so it runs in Locust's own processes (``python -m locust -f FILE``) and
on another machine's worker (distributed mode) as it stands.  The plan it carries
is JSON: the endpoints (each request by its name, its weight, the statuses that
count as success, its timeout), the closed-model profile and TLS verification.

Users are ``FastHttpUser`` (geventhttpclient, ~4× ``HttpUser`` per core): each
makes one request, thinks ``think_min``..``think_max``, and again.  A
``LoadTestShape`` ramps to ``users`` at ``spawn_rate``, holds, ramps down over
``ramp_down`` and ends the run.

A journey target is one choice among the requests: the user runs its steps in order
as the journey probe does (templates, extracts, expectations, polls, ``always_run``
clean-up), each HTTP request recorded under ``<journey>/<step>``.  The helpers it
needs (templates, a JSONPath subset matching ``probes._jsonpath``, the checks) are
rendered into the file.  Every rendered URL is checked against ``allow_hosts`` before
it is sent (a URL can come from an extracted value), and failure messages mask the
secrets (secret vars, extracts marked ``secret``).  The plan carries the secret
values the requests need: the file lives in the run's private temporary folder.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slaguard.config.capacity import CapacityJob, host_of
from slaguard.config.journey import JourneyRequest, JourneyTarget, Step
from slaguard.config.types import TargetBase


@dataclass(frozen=True)
class Endpoint:
    """One request a user makes; ``name`` is its row in the record."""
    name: str
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    # An upload target: ``size`` bytes sent as multipart (``field``, ``filename``) or PUT.
    upload_size: int | None = None
    upload_mode: str = "multipart"
    upload_field: str = "file"
    upload_filename: str = "slaguard-capacity.bin"
    weight: int = 1
    status: list[int] | None = None  # None: below 400
    timeout_s: float = 30.0
    verify_tls: bool = True
    # A journey's step (``url`` is its template): made only as part of the journey.
    journey: str | None = None


@dataclass(frozen=True)
class Plan:
    job: str
    endpoints: list[Endpoint]
    users: int
    spawn_rate: str  # a decimal string: Locust takes a float, the record keeps the digits
    hold_s: float
    think_min_s: float
    think_max_s: float
    ramp_down_s: float
    # Journey targets: their steps, vars and base, as the generated file reads them.
    journeys: list[dict[str, Any]] = field(default_factory=list)
    # The hosts any URL may reach (capacity.allow_hosts), checked again at run time.
    allow_hosts: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        """The first request's origin, or the first journey's base (Locust's ``--host``;
        every URL is absolute)."""
        plain = [e.url for e in self.endpoints if e.journey is None]
        u = urlsplit(plain[0] if plain else self.journeys[0]["base"])
        return f"{u.scheme}://{u.netloc}"

    @property
    def stop_timeout_s(self) -> int:
        """How long a stopping user may finish its request (so none is cut mid-way)."""
        return int(max(e.timeout_s for e in self.endpoints)) + 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _ms_s(ms: int) -> float:
    return ms / 1000


def _target_endpoint(t: Any) -> Endpoint:
    """A target's request as its probe makes it (method, headers, body or upload)."""
    common: dict[str, Any] = {
        "name": t.name, "url": t.url, "headers": dict(t.headers), "status": t.expect.status,
        "timeout_s": t.timeout.total_seconds(), "verify_tls": not t.tls.insecure_skip_verify}
    if t.kind == "upload":
        return Endpoint(method=t.http_method, upload_size=t.size, upload_mode=t.mode,
                        upload_field=t.field, upload_filename=t.filename, **common)
    return Endpoint(method=t.method, body=t.body, **common)


def step_endpoint(journey: str, step: str) -> str:
    """A journey step's row in the record and its key in ``thresholds.endpoints``."""
    return f"{journey}/{step}"


def _step_endpoints(t: JourneyTarget) -> list[Endpoint]:
    out = []
    for s in t.steps:
        req = s.request or (s.poll.request if s.poll else None)
        assert req is not None  # the config allows exactly one of request, poll
        out.append(Endpoint(name=step_endpoint(t.name, s.id), method=req.method, url=req.url,
                            timeout_s=t.timeout.total_seconds(),
                            verify_tls=not t.tls.insecure_skip_verify, journey=t.name))
    return out


def endpoints_for(job: CapacityJob, targets: Mapping[str, TargetBase]) -> list[Endpoint]:
    """The job's requests: its targets by name (an http or upload target's request, a
    journey's steps), then its own requests."""
    out: list[Endpoint] = []
    for name in job.targets:
        t = targets[name]
        out += _step_endpoints(t) if isinstance(t, JourneyTarget) else [_target_endpoint(t)]
    out += [Endpoint(name=r.name, method=r.method, url=r.url, headers=dict(r.headers),
                     body=r.body, weight=r.weight, status=r.status,
                     timeout_s=r.timeout.total_seconds()) for r in job.requests]
    return out


def _request_json(r: JourneyRequest) -> dict[str, Any]:
    return r.model_dump(mode="json", by_alias=True)


def _step_json(journey: str, s: Step) -> dict[str, Any]:
    poll = None
    if s.poll is not None:
        poll = {"request": _request_json(s.poll.request),
                "until": s.poll.until.model_dump(mode="json", by_alias=True),
                "fail_if": (None if s.poll.fail_if is None
                            else s.poll.fail_if.model_dump(mode="json", by_alias=True)),
                "every_s": s.poll.every.total_seconds(), "within_s": s.poll.within.total_seconds()}
    return {"id": s.id, "endpoint": step_endpoint(journey, s.id),
            "request": None if s.request is None else _request_json(s.request), "poll": poll,
            "extract": {k: e.model_dump(mode="json") for k, e in s.extract.items()},
            "expect": [c.model_dump(mode="json", by_alias=True) for c in s.expect],
            "always_run": s.always_run, "critical": s.critical}


def journey_json(t: JourneyTarget) -> dict[str, Any]:
    """What the generated file needs to run ``t``: its base, vars (secret ones named),
    headers, timeout and steps."""
    return {"name": t.name, "base": t.url.rstrip("/"), "vars": t.var_values(),
            "secret_vars": sorted(k for k, v in t.vars.items()
                                  if not isinstance(v, str) and v.secret),
            "headers": dict(t.headers), "timeout_s": t.timeout.total_seconds(),
            "steps": [_step_json(t.name, s) for s in t.steps]}


def plan_for(job: CapacityJob, targets: Mapping[str, TargetBase],
             allow_hosts: list[str] | None = None) -> Plan:
    p = job.profile
    journeys = [journey_json(t) for name in job.targets
                if isinstance(t := targets[name], JourneyTarget)]
    return Plan(job=job.name, endpoints=endpoints_for(job, targets), users=p.users,
                spawn_rate=str(p.spawn_rate), hold_s=p.hold.total_seconds(),
                think_min_s=p.think_min.total_seconds(), think_max_s=p.think_max.total_seconds(),
                ramp_down_s=p.ramp_down.total_seconds(), journeys=journeys,
                allow_hosts=list(allow_hosts or []))


_HEAD = '''\
"""Generated by slaguard for capacity job {job!r}: do not edit (regenerated per run).

Self-contained: locust and the standard library only.
"""

import json
import random
import re
import time
from urllib.parse import quote, urlsplit

import locust.stats
from locust import FastHttpUser, LoadTestShape, between, task

# The history slaguard reads (--csv-full-history) is flushed every second, so the
# abort rules and the kill switch act on fresh figures (Locust's default: 5 s).
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1

PLAN = json.loads({plan!r})
BOUNDARY = {boundary!r}
'''

# Not formatted: the generated code below keeps its braces as written.
_BODY = r'''

ENDPOINTS = PLAN["endpoints"]
JOURNEYS = PLAN["journeys"]
ALLOW = [h.lower() for h in PLAN["allow_hosts"]]
# What a user picks: a plain request (by its weight) or a whole journey (weight 1).
ACTIONS = ([("request", i) for i, e in enumerate(ENDPOINTS) if e["journey"] is None]
           + [("journey", j) for j in range(len(JOURNEYS))])
WEIGHTS = [ENDPOINTS[i]["weight"] if kind == "request" else 1 for kind, i in ACTIONS]


def _multipart(parts):
    """``[(name, bytes, filename or None, content type or None)]`` as a multipart body."""
    out = b""
    for name, data, filename, ctype in parts:
        disp = 'form-data; name="' + name + '"' + (
            '; filename="' + filename + '"' if filename is not None else "")
        out += ("--" + BOUNDARY + "\r\nContent-Disposition: " + disp
                + ("\r\nContent-Type: " + ctype if ctype else "") + "\r\n\r\n").encode("utf-8")
        out += data + b"\r\n"
    return out + ("--" + BOUNDARY + "--\r\n").encode("utf-8")


def _body(e):
    """The bytes an endpoint sends, built once (an upload's file is zeros)."""
    if e["upload_size"] is None:
        return None if e["body"] is None else e["body"].encode("utf-8")
    data = bytes(e["upload_size"])
    if e["upload_mode"] == "put":
        return data
    return _multipart([(e["upload_field"], data, e["upload_filename"],
                        "application/octet-stream")])


def _headers(e):
    h = dict(e["headers"])
    if e["upload_size"] is not None:
        h["Content-Type"] = ("multipart/form-data; boundary=" + BOUNDARY
                             if e["upload_mode"] == "multipart" else "application/octet-stream")
    return h


BODIES = [_body(e) for e in ENDPOINTS]
HEADERS = [_headers(e) for e in ENDPOINTS]


# -- journeys: templates, secrets, a JSONPath subset ($, .name, ['name'], [N]) ---------

TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_STEP = re.compile(r"""\.([^.\[\]'"]+)|\[(-?\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")


class StepFailed(Exception):
    """A step's response is not as expected (the message names what)."""


class Missing(Exception):
    """A template names a value this journey run never extracted."""


def jsonpath(doc, path):
    """As probes._jsonpath.lookup: $, .name, ['name'], ["name"], [N] (N may be negative)."""
    if not path.startswith("$"):
        raise StepFailed("JSONPath must start with '$': " + path)
    node, pos = doc, 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise StepFailed("unsupported JSONPath " + path)
        name, index, single, double = m.groups()
        step = int(index) if index is not None else next(
            x for x in (name, single, double) if x is not None)
        if isinstance(step, int):
            ok = isinstance(node, list) and -len(node) <= step < len(node)
        else:
            ok = isinstance(node, dict) and step in node
        if not ok:
            raise StepFailed(path + ": nothing at " + repr(step))
        node, pos = node[step], m.end()
    return node


def same_value(actual, expected):
    """JSON equality: 1 == 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(actual, (bool, str)) or isinstance(expected, (bool, str)):
        return type(actual) is type(expected) and actual == expected
    return actual == expected


def matches(got, cond):
    if cond.get("in") is not None:
        return any(same_value(got, w) for w in cond["in"])
    return same_value(got, cond.get("equals"))


def allowed(url):
    """capacity.allow_hosts again, at run time: a URL can come from an extracted value."""
    u = urlsplit(url)
    host = (u.hostname or "").lower()
    port = u.port or (443 if u.scheme == "https" else 80)
    where = ("[" + host + "]" if ":" in host else host) + ":" + str(port)
    return u.scheme in ("http", "https") and any(
        a == where or a.strip("[]") == host for a in ALLOW)


class Run:
    """One pass through a journey: its values and the secrets to mask."""

    def __init__(self, j):
        self.values = {"base": j["base"]}
        self.values.update({"vars." + k: v for k, v in j["vars"].items()})
        self.secrets = set()
        for k in j["secret_vars"]:
            self.secret(j["vars"][k])

    def secret(self, value):
        if value:  # also as a URL carries it
            self.secrets |= {value, quote(value), quote(value, safe="")}

    def mask(self, text):
        for s in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    def render(self, text):
        def one(m):
            if m.group(1) not in self.values:
                raise Missing(m.group(1))
            return self.values[m.group(1)]
        return TEMPLATE.sub(one, text)

    def render_json(self, doc):
        if isinstance(doc, str):
            return self.render(doc)
        if isinstance(doc, dict):
            return {k: self.render_json(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [self.render_json(v) for v in doc]
        return doc


def body_json(resp):
    try:
        return json.loads(resp.content or b"")
    except ValueError as e:
        raise StepFailed("body is not JSON: " + str(e)) from None


def header_values(resp, name):
    return [v for k, v in resp.headers.items() if k.lower() == name.lower()]


def _size_ok(r, n):
    return not ((r["gt"] is not None and not n > r["gt"])
                or (r["ge"] is not None and not n >= r["ge"])
                or (r["lt"] is not None and not n < r["lt"])
                or (r["le"] is not None and not n <= r["le"]))


def check(c, resp):
    """One ``expect`` entry, as probes._journey_checks.check_one."""
    body = resp.content or b""
    if c["status"] is not None:
        want = c["status"] if isinstance(c["status"], list) else [c["status"]]
        if resp.status_code not in want:
            raise StepFailed("status " + str(resp.status_code) + ", expected "
                             + " or ".join(map(str, want)))
    elif c["header"] is not None:
        if not any(re.search(c["matches"], v) for v in header_values(resp, c["header"])):
            raise StepFailed("header " + c["header"] + " does not match /" + c["matches"] + "/")
    elif c["body_contains"] is not None:
        if c["body_contains"] not in body.decode("utf-8", "replace"):
            raise StepFailed("body does not contain " + repr(c["body_contains"]))
    elif c["jsonpath"] is not None:
        got = jsonpath(body_json(resp), c["jsonpath"])
        if not matches(got, c):
            raise StepFailed(c["jsonpath"] + " is " + repr(got) + ", not as expected")
    elif c["body_size"] is not None and not _size_ok(c["body_size"], len(body)):
        raise StepFailed("body is " + str(len(body)) + " bytes, outside "
                         + json.dumps(c["body_size"]))


def check_all(checks, resp):
    """A step without a status check expects a 2xx."""
    if not any(c["status"] is not None for c in checks) and not 200 <= resp.status_code < 300:
        raise StepFailed("status " + str(resp.status_code) + ", expected 2xx")
    for c in checks:
        check(c, resp)


def extract(e, resp):
    if e["jsonpath"] is not None:
        got = jsonpath(body_json(resp), e["jsonpath"])
        return got if isinstance(got, str) else json.dumps(got)
    if e["header"] is not None:
        found = header_values(resp, e["header"])
        if not found:
            raise StepFailed("header " + e["header"] + " missing (nothing to extract)")
        return found[0]
    m = re.search(e["regex"], (resp.content or b"").decode("utf-8", "replace"))
    if m is None:
        raise StepFailed("body does not match /" + e["regex"] + "/ (nothing to extract)")
    return m.group(1) if m.groups() else m.group(0)


def journey_request(run, j, req):
    """(url, headers, data, json) of a step's request, rendered."""
    url = run.render(req["url"])
    headers = {k: run.render(v) for k, v in {**j["headers"], **req["headers"]}.items()}
    data = doc = None
    if req["json"] is not None:
        doc = run.render_json(req["json"])
    elif req["body"] is not None:
        data = run.render(req["body"]).encode("utf-8")
    elif req["multipart"] is not None:
        parts = []
        for name, part in req["multipart"].items():
            if isinstance(part, str):
                parts.append((name, run.render(part).encode("utf-8"), None, None))
            else:
                parts.append((name, bytes(part["generate"]), part["filename"],
                              part["content_type"]))
        data = _multipart(parts)
        headers["Content-Type"] = "multipart/form-data; boundary=" + BOUNDARY
    return url, headers, data, doc


class SlaguardUser(FastHttpUser):
    host = PLAN["host"]
    wait_time = between(PLAN["think_min_s"], PLAN["think_max_s"])
    network_timeout = max(e["timeout_s"] for e in ENDPOINTS)
    connection_timeout = network_timeout
    insecure = not all(e["verify_tls"] for e in ENDPOINTS)

    @task
    def one_action(self):
        kind, i = random.choices(ACTIONS, WEIGHTS)[0]
        if kind == "journey":
            self.journey(JOURNEYS[i])
        else:
            self.one_request(i)

    def one_request(self, i):
        e = ENDPOINTS[i]
        with self.client.request(e["method"], e["url"], name=e["name"], headers=HEADERS[i],
                                 data=BODIES[i], catch_response=True) as resp:
            code = resp.status_code or 0
            ok = code in e["status"] if e["status"] else 0 < code < 400
            if not ok:
                resp.failure("status " + str(code) + (": " + str(resp.error) if resp.error
                                                      else ""))
            else:
                resp.success()

    # -- a journey: its steps in order, as the journey probe runs them --------------------

    def journey(self, j):
        """After a failed critical step (or the journey's timeout) only always_run steps."""
        run, failed = Run(j), False
        deadline = time.monotonic() + j["timeout_s"]
        for step in j["steps"]:
            if (failed or time.monotonic() >= deadline) and not step["always_run"]:
                continue
            if self.step(run, j, step) is False and step["critical"]:
                failed = True

    def step(self, run, j, step):
        """True, False, or None (an always_run step with nothing to clean up)."""
        try:
            if step["poll"] is not None:
                return self.poll(run, j, step)
            return self.send(run, j, step, step["request"], self.expect_and_extract)
        except Missing as e:
            if step["always_run"]:
                return None
            self.report(step, "{{" + str(e) + "}} has no value: the step that extracts it "
                        "did not succeed in this run")
            return False

    def expect_and_extract(self, run, step, resp):
        for e in step["extract"].values():  # known as secret before a check quotes it
            if e["secret"]:
                try:
                    run.secret(extract(e, resp))
                except StepFailed:
                    pass
        check_all(step["expect"], resp)
        for name, e in step["extract"].items():
            run.values[name] = extract(e, resp)
        return True

    def send(self, run, j, step, req, judge):
        """One request of ``step``, judged by ``judge(run, step, resp)`` (True: done, None:
        poll again, StepFailed: failed): the request's outcome in Locust's figures."""
        url, headers, data, doc = journey_request(run, j, req)
        if not allowed(url):
            self.report(step, run.mask("URL not in capacity.allow_hosts: " + url))
            return False
        with self.client.request(req["method"], url, name=step["endpoint"], headers=headers,
                                 data=data, json=doc, catch_response=True) as resp:
            try:
                if not resp.status_code:
                    raise StepFailed("no response: " + str(resp.error))
                done = judge(run, step, resp)
            except StepFailed as e:
                resp.failure(run.mask("step " + step["id"] + ": " + str(e)))
                return False
            resp.success()
            return done

    def poll(self, run, j, step):
        """Ask until ``until`` holds (then expect and extract), failing on ``fail_if`` or
        after ``within``; polls on a fixed grid from the step's start."""
        p, start, attempts = step["poll"], time.monotonic(), 0

        def judge(run, step, resp):
            check_all([], resp)
            data = body_json(resp)
            if p["fail_if"] is not None and holds(p["fail_if"], data):
                raise StepFailed(p["fail_if"]["jsonpath"] + " matched fail_if after "
                                 + str(attempts) + " polls")
            if holds(p["until"], data):
                return self.expect_and_extract(run, step, resp)
            if time.monotonic() - start >= p["within_s"]:
                raise StepFailed(p["until"]["jsonpath"] + " not as expected within "
                                 + str(p["within_s"]) + " s (" + str(attempts) + " polls)")
            return None

        while True:
            attempts += 1
            done = self.send(run, j, step, p["request"], judge)
            if done is not None:
                return done
            # Locust patches time.sleep (gevent): this user waits, the others go on.
            time.sleep(max(0.0, min(start + p["every_s"] * attempts, start + p["within_s"])
                           - time.monotonic()))

    def report(self, step, message):
        """A step that failed before its request was sent, counted as a failed request."""
        self.environment.events.request.fire(
            request_type="JOURNEY", name=step["endpoint"], response_time=0,
            response_length=0, exception=StepFailed(message), context={})


def holds(cond, data):
    try:
        return matches(jsonpath(data, cond["jsonpath"]), cond)
    except StepFailed:
        return False


class SlaguardShape(LoadTestShape):
    """Ramp up at spawn_rate, hold, ramp down over ramp_down, end."""

    def tick(self):
        t = self.get_run_time()
        rate = float(PLAN["spawn_rate"])
        up = PLAN["users"] / rate
        if t < up + PLAN["hold_s"]:
            return (PLAN["users"], rate)
        if t < up + PLAN["hold_s"] + PLAN["ramp_down_s"]:
            return (0, PLAN["users"] / PLAN["ramp_down_s"])
        return None
'''


def render(plan: Plan) -> str:
    """The locustfile's text for ``plan`` (deterministic but for the multipart
    boundary, which is fixed per plan)."""
    doc = plan.to_json() | {"host": plan.host,
                            "allow_hosts": plan.allow_hosts or named_hosts(plan)}
    boundary = "slaguard-" + uuid.uuid5(uuid.NAMESPACE_URL, plan.job).hex
    head = _HEAD.format(job=plan.job, plan=json.dumps(doc, sort_keys=True), boundary=boundary)
    return head + _BODY


def named_hosts(plan: Plan) -> list[str]:
    """Without ``allow_hosts``: the hosts the plan itself names (every request's URL, each
    journey's base and absolute step URLs), which the configuration check allowed."""
    urls = [e.url for e in plan.endpoints] + [j["base"] for j in plan.journeys]
    return sorted({host_of(u) for u in urls if u.startswith(("http://", "https://"))})


def write(plan: Plan, folder: Path) -> Path:
    path = folder / "locustfile.py"
    path.write_text(render(plan), encoding="utf-8")
    return path


