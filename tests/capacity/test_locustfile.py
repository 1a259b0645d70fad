"""The generated locustfile: self-contained (locust and the standard library only),
from targets and explicit requests, kept as a golden file."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from capacity.locustfile import plan_for, render
from slaguard.config import parse_config
from tests.conftest import check_golden

GOLDEN = Path(__file__).parent / "golden"


def config() -> dict[str, object]:
    return {
        "version": 1, "services": {"core": {"availability": "99.9%"}},
        "targets": [
            {"name": "api", "service": "core", "kind": "http", "method": "POST",
             "url": "https://platform.example.com/api/health", "body": "{}",
             "headers": {"X-Probe": "capacity"}, "expect": {"status": [200, 201]}},
            {"name": "upload", "service": "core", "kind": "upload", "size": "1KiB",
             "url": "https://platform.example.com/api/files", "timeout": "20s",
             "interval": "1m"},
        ],
        "capacity": {"allow_hosts": ["platform.example.com"], "jobs": [{
            "name": "release", "targets": ["api", "upload"],
            "requests": [{"name": "search", "url": "https://platform.example.com/s?q=x",
                          "weight": 5}],
            "profile": {"users": 5000, "spawn_rate": "8.5", "hold": "20m", "ramp_down": "1m"},
        }]},
    }


def locustfile() -> str:
    cfg = parse_config(config(), env={})[0]
    return render(plan_for(cfg.capacity.job("release"), {t.name: t for t in cfg.targets}))


def test_generated_locustfile_matches_its_golden_file(update_golden: bool) -> None:
    check_golden(GOLDEN / "locustfile.py.txt", locustfile(), update_golden)


def test_it_imports_only_locust_and_the_standard_library() -> None:
    roots: set[str] = set()
    for n in ast.walk(ast.parse(locustfile())):
        if isinstance(n, ast.Import):
            roots |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            roots.add((n.module or "").split(".")[0])
    assert roots - set(sys.stdlib_module_names) == {"locust"}
    assert "FastHttpUser" in locustfile() and "LoadTestShape" in locustfile()


def test_the_plan_carries_targets_and_requests() -> None:
    text = locustfile()
    plan = json.loads(ast.literal_eval(text.split("PLAN = json.loads(")[1].split(")\n")[0]))
    assert [(e["name"], e["method"], e["weight"], e["status"]) for e in plan["endpoints"]] == [
        ("api", "POST", 1, [200, 201]), ("upload", "POST", 1, None), ("search", "GET", 5, None)]
    assert plan["endpoints"][1]["upload_size"] == 1024
    assert (plan["users"], plan["spawn_rate"], plan["hold_s"], plan["ramp_down_s"]) == (
        5000, "8.5", 1200.0, 60.0)
    assert plan["host"] == "https://platform.example.com"


# -- the journey helpers rendered into the file, run here without Locust ------------------


def helpers() -> dict[str, Any]:
    """The generated file's journey helpers (templates, JSONPath, checks), executed alone:
    importing the whole file would import Locust (and gevent's monkey-patching)."""
    from urllib.parse import quote, urlsplit

    text = locustfile()
    part = text[text.index("# -- journeys"):text.index("class SlaguardUser")]
    ns: dict[str, Any] = {"json": json, "re": re, "quote": quote, "urlsplit": urlsplit,
                          "ALLOW": ["platform.example.com", "127.0.0.1:8080"],
                          "BOUNDARY": "b"}
    exec(compile(part, "locustfile-helpers", "exec"), ns)  # our own generated text
    return ns


DOC = {"a": {"b": [1, {"c": "x"}]}, "build.id": 7, "items": [{"id": 1}, {"id": 2}],
       "flag": True, "n": 1.0}


@pytest.mark.parametrize("path", ["$", "$.a.b[0]", "$.a.b[1].c", "$['build.id']",
                                  '$["build.id"]', "$.items[-1].id", "$.flag", "$.n",
                                  "$.a.x", "$.items[5]", "$.a.b[0].c", "a.b", "$.a..b"])
def test_the_jsonpath_subset_matches_the_probes(path: str) -> None:
    from probes import _jsonpath

    h = helpers()
    try:
        want: Any = ("value", _jsonpath.lookup(DOC, path))
    except (_jsonpath.PathNotFound, ValueError):
        want = "error"
    try:
        got: Any = ("value", h["jsonpath"](DOC, path))
    except h["StepFailed"]:
        got = "error"
    assert got == want


@pytest.mark.parametrize(("actual", "expected"), [(1, 1.0), (True, 1), ("1", 1), ("x", "x"),
                                                  (None, None), ([1], [1])])
def test_json_equality_matches_the_probes(actual: Any, expected: Any) -> None:
    from probes import _jsonpath

    assert helpers()["same_value"](actual, expected) is _jsonpath.same_value(actual, expected)


def test_templates_secrets_and_the_allowlist() -> None:
    h = helpers()
    run = h["Run"]({"base": "http://127.0.0.1:8080", "vars": {"user": "al", "pw": "s3 cr&t"},
                    "secret_vars": ["pw"]})
    run.values["token"] = "tok"
    assert run.render("{{base}}/u/{{ vars.user }}?t={{token}}") == \
        "http://127.0.0.1:8080/u/al?t=tok"
    assert run.render_json({"p": ["{{vars.pw}}", 3]}) == {"p": ["s3 cr&t", 3]}
    with pytest.raises(h["Missing"]):
        run.render("{{job}}")
    # The secret, as written and as a URL carries it.
    assert run.mask("pw=s3 cr&t, s3%20cr%26t") == "pw=***, ***"
    assert [h["allowed"](u) for u in ("https://platform.example.com/x",
                                      "http://127.0.0.1:8080/", "http://127.0.0.1:9/",
                                      "http://localhost:8080/", "ftp://platform.example.com/")
            ] == [True, True, False, False, False]
