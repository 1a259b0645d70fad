"""The house rules, checked on the source: which package may import which.

Layers, bottom up (README "Layout"):

* ``slo``: pure accounting; imports nothing of ours but ``slaguard.domain``.
* the core of ``slaguard`` (everything but the runtime below): contracts, config,
  the record, evaluation; imports only itself and ``slo``.
* the capabilities — ``probes``, ``exporters``, ``alerting``, ``compensation``,
  ``grafana``, ``demo``, ``openslo``, ``capacity``: import the core, ``slo`` and each
  other's public modules (never a ``_private`` one), and never the runtime.
* the runtime of ``slaguard``: scheduling and workers, the server and status page,
  ``slaguard.app`` (the one composition root) and ``slaguard.cli``.  Only the CLI
  imports ``slaguard.app``.

Every import counts, also one inside a function or under ``TYPE_CHECKING``:
a lazy import hides a circle, it does not remove it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("slaguard", "slo", "probes", "exporters", "alerting", "compensation", "grafana",
            "demo", "openslo", "capacity")
CAPABILITIES = ("probes", "exporters", "alerting", "compensation", "grafana", "demo", "openslo",
                "capacity")
RUNTIME = ("slaguard.scheduler", "slaguard.workers", "slaguard.server", "slaguard.statuspage",
           "slaguard.app", "slaguard.cli")


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _package(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _targets(node: ast.AST, module: str, path: Path) -> Iterator[str]:
    known = modules()
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            pkg = _package(module, path)
            for _ in range(node.level - 1):
                pkg = pkg.rpartition(".")[0]
            base = f"{pkg}.{base}".strip(".")
        for a in node.names:  # ``from pkg import module`` imports pkg.module
            yield f"{base}.{a.name}" if f"{base}.{a.name}" in known else base


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module → the modules of ours it imports (a package stands for its ``__init__``)."""
    known = modules()
    edges: dict[str, frozenset[str]] = {}
    for module, path in known.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _targets(node, module, path):
                while target and target not in known:  # ``import a.b.c``: the module a.b.c
                    target = target.rpartition(".")[0]
                if target and target != module:
                    found.add(target)
        edges[module] = frozenset(found)
    return edges


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(rule: str, allowed: Callable[[str, str], bool], sources: Callable[[str], bool]
               ) -> list[str]:
    return [f"{m} imports {t} ({rule})" for m, ts in sorted(graph().items()) if sources(m)
            for t in sorted(ts) if not allowed(m, t)]


def _core(module: str) -> bool:
    return module.split(".")[0] == "slaguard" and not _within(module, RUNTIME)


def test_the_graph_sees_every_package() -> None:
    found = {m.split(".")[0] for m in graph()}
    assert found == set(PACKAGES)
    assert "slaguard.app" in graph()["slaguard.cli"]  # lazy imports count


def test_no_import_circles() -> None:
    edges, state, cycles = graph(), dict[str, int](), list[list[str]]()

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append([*stack[stack.index(t):], t])
            elif t not in state:
                visit(t, [*stack, t])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import circles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_slo_imports_nothing_of_ours_but_the_domain() -> None:
    bad = violations("slo is pure", lambda m, t: _within(t, ("slo", "slaguard.domain")),
                     lambda m: _within(m, ("slo",)))
    assert not bad, "\n".join(bad)


def test_the_core_imports_only_itself_and_slo() -> None:
    bad = violations("the core is below the capabilities and the runtime",
                     lambda m, t: _core(t) or _within(t, ("slo",)), _core)
    assert not bad, "\n".join(bad)


def test_capabilities_never_import_the_runtime_or_each_others_internals() -> None:
    def allowed(m: str, t: str) -> bool:
        if _within(t, RUNTIME):
            return False
        own = m.split(".")[0]
        other = t.split(".")[0]
        return other == own or not any(p.startswith("_") for p in t.split(".")[1:])

    bad = violations("capabilities stand on the core", allowed,
                     lambda m: _within(m, CAPABILITIES))
    assert not bad, "\n".join(bad)


def test_only_the_cli_imports_the_composition_root() -> None:
    bad = violations("slaguard.app is the one composition root; only the CLI runs it",
                     lambda m, t: not _within(t, ("slaguard.app", "slaguard.cli"))
                     or _within(m, ("slaguard.cli",)),
                     lambda m: True)
    assert not bad, "\n".join(bad)
