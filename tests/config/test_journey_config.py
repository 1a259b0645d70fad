"""``kind: journey`` configuration: the notes' journey loads with its units parsed; each
cross-check has its own invalid file in tests/config/invalid/journey-*.yaml (run by
test_config.py's one-file-per-rule test)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from slaguard.config import load_config
from slaguard.config.journey import (
    GeneratedFile,
    JourneyTarget,
    SecretVar,
    step_objective_specs,
)
from slaguard.config.types import bound_inclusive

JOURNEY = """\
version: 1
services: {core: {availability: 99.9%}}
targets:
  - name: bid-doc-100p
    service: core
    kind: journey
    url: https://api.example.com
    interval: 1h
    timeout: 15m
    vars: {user: alice, password: {value: "${SG_PASS}", secret: true}}
    objectives:
      - {step: generate, elapsed: "< 10m"}
      - {step: upload, elapsed: "<= 30s"}
    steps:
      - id: login
        request: {method: POST, url: "{{base}}/api/login",
                  json: {user: "{{vars.user}}", password: "{{vars.password}}"}}
        extract: {token: {jsonpath: $.token, secret: true}}
      - id: upload
        request: {method: POST, url: "{{base}}/api/files",
                  headers: {Authorization: "Bearer {{token}}"},
                  multipart: {file: {generate: 10MiB}}}
        expect: [{status: 201}]
        extract: {file_id: {jsonpath: $.id}}
      - id: start
        request: {method: POST, url: "{{base}}/api/documents",
                  json: {file: "{{file_id}}", pages: 100}}
        extract: {job: {jsonpath: $.job_id}}
      - id: generate
        clock_from: start
        poll:
          request: {method: GET, url: "{{base}}/api/jobs/{{job}}"}
          until:   {jsonpath: $.state, equals: done}
          fail_if: {jsonpath: $.state, in: [failed, cancelled]}
          every: 10s
          within: 10m
      - id: download
        request: {method: GET, url: "{{base}}/api/documents/{{job}}/file"}
        expect: [{status: 200}, {header: content-type, matches: pdf},
                 {body_size: {gt: 100KiB}}]
      - id: cleanup
        always_run: true
        critical: false
        request: {method: DELETE, url: "{{base}}/api/documents/{{job}}"}
"""


def test_the_notes_journey_loads(tmp_path: Path) -> None:
    path = tmp_path / "slaguard.yaml"
    path.write_text(JOURNEY, encoding="utf-8")
    cfg, warnings = load_config(path, env={"SG_PASS": "hunter2"})
    assert warnings == []
    (j,) = cfg.targets
    assert isinstance(j, JourneyTarget) and j.max_concurrent == 1
    assert j.var_values() == {"user": "alice", "password": "hunter2"}
    assert j.secret_vars() == {"hunter2"}
    assert isinstance(j.vars["password"], SecretVar)
    assert [s.id for s in j.steps] == ["login", "upload", "start", "generate", "download",
                                       "cleanup"]
    part = j.steps[1].request.multipart["file"]  # type: ignore[union-attr, index]
    assert isinstance(part, GeneratedFile) and part.generate == 10 * 2**20
    poll = j.steps[3].poll
    assert poll is not None and poll.every == timedelta(seconds=10)
    assert poll.within == timedelta(minutes=10) and poll.fail_if is not None
    assert poll.fail_if.in_ == ["failed", "cancelled"]
    generate, upload = j.objectives
    assert generate.elapsed == timedelta(minutes=10) and not bound_inclusive(generate.elapsed)
    assert upload.elapsed == timedelta(seconds=30) and bound_inclusive(upload.elapsed)
    size = j.steps[4].expect[2].body_size
    assert size is not None and size.gt == 100 * 1024
    assert j.steps[5].always_run and not j.steps[5].critical


def test_step_objective_specs_are_plain_values(tmp_path: Path) -> None:
    path = tmp_path / "slaguard.yaml"
    path.write_text(JOURNEY, encoding="utf-8")
    cfg, _ = load_config(path, env={"SG_PASS": "x"})
    assert step_objective_specs(cfg.targets) == [
        ("bid-doc-100p", "generate", 600_000, False), ("bid-doc-100p", "upload", 30_000, True)]
