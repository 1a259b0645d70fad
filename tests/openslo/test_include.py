"""``include:`` in a configuration: more ``slos`` from other files (what ``slaguard
openslo import`` writes), each error naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from slaguard.config import ConfigError, load_config

MAIN = """\
version: 1
storage: {path: ":memory:"}
services:
  portal: {availability: 99.9%}
targets:
  - {name: web, service: portal, kind: http, url: "http://127.0.0.1:9/"}
slos:
  - {name: page-load, targets: [web], latency: {mean: "< 3s"}}
"""
SLO = '  - {{name: {name}, targets: [web], latency: {{p95: "< 5s"}}}}\n'


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    return [e.replace(f"{path.parent}/", "") for e in exc.value.errors]


def test_included_slos_are_appended_in_order(tmp_path: Path) -> None:
    main = write(tmp_path, "slaguard.yaml", MAIN + "include: [more/a.yaml, b.yaml]\n")
    write(tmp_path, "more/a.yaml", "slos:\n" + SLO.format(name="a1") + "include: [c.yaml]\n")
    write(tmp_path, "more/c.yaml", "slos:\n" + SLO.format(name="c1"))
    write(tmp_path, "b.yaml", "# nothing yet\n")
    cfg, warnings = load_config(main, env={})
    assert [s.name for s in cfg.slos] == ["page-load", "a1", "c1"]
    assert warnings == []


def test_skip_and_extra(tmp_path: Path) -> None:
    main = write(tmp_path, "slaguard.yaml", MAIN + "include: [a.yaml]\n")
    a = write(tmp_path, "a.yaml", "slos:\n" + SLO.format(name="a1"))
    b = write(tmp_path, "b.yaml", "slos:\n" + SLO.format(name="b1"))
    assert [s.name for s in load_config(main, env={}, skip=[a])[0].slos] == ["page-load"]
    assert [s.name for s in load_config(main, env={}, extra=[b, a])[0].slos] == [
        "page-load", "a1", "b1"]


@pytest.mark.parametrize(("files", "expected"), [
    ({"slaguard.yaml": MAIN + "include: [missing.yaml]\n"},
     ["include[0]: missing.yaml: cannot read: No such file or directory"]),
    ({"slaguard.yaml": MAIN + "include: missing.yaml\n"},
     ["include: expected a list of file paths"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml, 3]\n", "a.yaml": ""},
     ["include[1]: expected a file path, got 3"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml]\n", "a.yaml": "include: [b.yaml]\n",
      "b.yaml": "include: [a.yaml]\n"},
     ["b.yaml: include[0]: a.yaml is already being included (a cycle: a.yaml → b.yaml → "
      "a.yaml)"]),
    ({"slaguard.yaml": MAIN + "include: [slaguard.yaml]\n"},
     ["include[0]: slaguard.yaml is already being included (a cycle: slaguard.yaml → "
      "slaguard.yaml)"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml]\n",
      "a.yaml": "slos:\n" + SLO.format(name="a1") + "targets: []\nservices: {}\n"},
     ["a.yaml: line 3: targets: an included file may set only slos (the rest belongs in the "
      "main file)",
      "a.yaml: line 4: services: an included file may set only slos (the rest belongs in the "
      "main file)"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml]\n", "a.yaml": "slos: {a: 1}\n"},
     ["a.yaml: line 1: slos: expected a list"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml]\n", "a.yaml": "- slos\n"},
     ["a.yaml: (top level): expected a mapping holding slos"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml]\n", "a.yaml": "slos:\n  - [unclosed\n"},
     ["include[0]: a.yaml: line 2, column 5: invalid YAML: did not find expected ',' or ']'"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml]\n",
      "a.yaml": "slos: []\nslos:\n" + SLO.format(name="a1")},
     ["a.yaml: slos: duplicate key, on lines 1 and 2 (YAML keeps only the last; merge them "
      "into one)"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml]\n",
      "a.yaml": "slos:\n" + SLO.format(name="a1") + SLO.format(name="page-load")},
     ["a.yaml: line 3: slos[1].name: duplicate SLO name 'page-load'"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml]\n",
      "a.yaml": "# header\nslos:\n" + SLO.format(name="a1") +
      "  - name: a2\n    targets: [nowhere]\n    latency: {p95: 5x}\n"},
     ["a.yaml: line 6: slos[1].latency.p95: not a duration: '5x' (use e.g. 30s, 15m, 1h)",
      "a.yaml: line 5: slos[1].targets[0]: unknown target 'nowhere'"]),
    ({"slaguard.yaml": MAIN + "include: [a.yaml]\n",
      "a.yaml": "slos:\n  - name: a1\n    targets: ['${NOPE}']\n    latency: {p95: 5s}\n"},
     ["a.yaml: line 3: slos[0].targets[0]: environment variable NOPE is not set",
      "a.yaml: line 3: slos[0].targets[0]: unknown target ''"]),
])
def test_include_errors(tmp_path: Path, files: dict[str, str], expected: list[str]) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    got = errors(tmp_path / "slaguard.yaml")
    assert [e.replace(f"{tmp_path}/", "") for e in got] == expected
