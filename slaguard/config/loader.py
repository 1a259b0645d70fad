"""Load a configuration: YAML → ${ENV} interpolation → schema → semantic checks.

All problems are collected, each as ``path: message``, and raised together in
one ``ConfigError`` so a user fixes a file in one pass.

``include: [FILE, …]`` (paths relative to the including file) appends each included
file's ``slos`` to the main file's before the schema runs (an included file may
include others; a cycle, a missing file or any other key is refused).  An error in an
included element reads ``FILE: line N: slos[i]…: message`` in that file's own terms.
``slaguard openslo import`` writes such a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, SequenceNode

from slaguard.config import yamldoc
from slaguard.config.calendar import load_calendar
from slaguard.config.salvage import parse_path, partial
from slaguard.config.schema import Config
from slaguard.config.schema_errors import format_path, schema_errors
from slaguard.config.validate import check, warnings_for
from slaguard.errors import ConfigError

# A configuration is a few kilobytes (the reference one 5 KiB); past this a file is
# not one, and reading it (about 0.2 s per 100 KiB of YAML, then the schema) must
# stay well under 2 s.
MAX_CONFIG_BYTES = 256 << 10
_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(node: Any, env: Mapping[str, str], path: tuple[Any, ...],
                errors: list[str]) -> Any:
    """Replace ``${VAR}`` (or ``${VAR:-default}``) in every string; ``$$`` is a ``$``."""
    if isinstance(node, dict):
        return {k: interpolate(v, env, (*path, k), errors) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, (*path, i), errors) for i, v in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        errors.append(f"{format_path(path)}: environment variable {name} is not set")
        return ""

    return _ENV_RE.sub(sub, node)


def _resolve(path: str, base_dir: Path) -> str:
    return path if path == ":memory:" or Path(path).is_absolute() else str(base_dir / path)


def _absolute_paths(cfg: Config, base_dir: Path | None) -> Config:
    """Relative paths in a config file mean "beside the config file", whatever the
    working directory of the command (as Prometheus does for its rule files)."""
    if base_dir is None:
        return cfg
    storage = cfg.storage.model_copy(update={"path": _resolve(cfg.storage.path, base_dir)})
    cfg = cfg.model_copy(update={"storage": storage})
    m = cfg.availability.maintenance
    if not m.calendar_overrides:
        return cfg
    m = m.model_copy(update={"calendar_overrides": _resolve(m.calendar_overrides, base_dir)})
    availability = cfg.availability.model_copy(update={"maintenance": m})
    return cfg.model_copy(update={"availability": availability})


def _schema(doc: dict[str, Any], errors: list[str]) -> Config | None:
    """The config, or None; the schema's errors (but not a second one where an
    environment variable is already missing) and then the checks' are appended."""
    try:
        cfg = Config.model_validate(doc)
    except ValidationError as exc:
        unset = {e.partition(": ")[0] for e in errors}
        errors += [e for e in schema_errors(exc) if e.partition(": ")[0] not in unset]
        partial_cfg, aside = partial(doc, exc)
        if partial_cfg is not None:
            errors += aside.filter(check(partial_cfg))
        return None
    errors += check(cfg)
    return cfg


def parse_config(raw: Any, env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> tuple[Config, list[str]]:
    """Validate an already-parsed YAML document. Returns the config and its warnings.

    Every error is reported at once: environment variables, then the schema, then
    the checks (on what the schema accepted), then the calendar overrides file."""
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): expected a mapping"])
    doc = interpolate(raw, os.environ if env is None else env, (), errors)
    cfg = _schema(doc, errors)
    if cfg is None:
        raise ConfigError(errors)
    cfg = _absolute_paths(cfg, base_dir)
    if cfg.availability.maintenance.calendar_overrides:
        try:
            load_calendar(cfg)  # a bad override file stops start-up too
        except ConfigError as e:
            errors += e.errors
    if errors:
        raise ConfigError(errors)
    return cfg, warnings_for(cfg)


def _read(p: Path) -> str:
    """The file's text; :class:`ConfigError` when it cannot be read, is larger than
    :data:`MAX_CONFIG_BYTES` (``-c /dev/zero`` must not fill memory) or is not UTF-8
    (with the line and column of the first bad byte)."""
    try:
        with p.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError([f"{p}: cannot read: {e.strerror}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{p}: larger than {MAX_CONFIG_BYTES:,} bytes "
                           f"({MAX_CONFIG_BYTES >> 10} KiB); a configuration is a few "
                           "kilobytes"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError([f"{p}: line {line}, byte {column}: not UTF-8: {e.reason} "
                           "(save the file as UTF-8)"]) from None


def _parse_yaml(p: Path) -> tuple[Any, list[str]]:
    """The document of file ``p`` and its repeated keys; :class:`ConfigError` naming the
    file and line when it is no YAML a configuration may be."""
    text = _read(p)
    try:
        return yamldoc.load(text)
    except yaml.YAMLError as e:
        # The context mark is where the broken construct starts, which is the
        # line a person has to fix; the problem mark is often the line after.
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        what = "" if isinstance(e, yamldoc.Refused) else "invalid YAML: "
        raise ConfigError([f"{p}: {where}{what}{problem}"]) from None


# -- include: more SLOs from other files ------------------------------------------------

# What an included file may set: lists appended to the main file's (an included file
# written by ``slaguard openslo import`` holds ``slos``); everything else stays in one
# place, the main file.
INCLUDABLE = ("slos",)


@dataclass(frozen=True)
class _Item:
    """One list element that came from an included file."""

    file: Path
    key: str
    index: int  # its position in that file's list
    node: Node | None  # for its line


@dataclass
class _Found:
    """The main document with the included lists appended, and where each came from."""

    doc: Any
    main_counts: dict[str, int] = field(default_factory=dict)
    items: dict[str, list[_Item]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def relocate(self, errors: list[str]) -> list[str]:
        """Errors about an included element, as ``FILE: line N: slos[i]…: message``
        in that file's own terms."""
        return [self._relocated(e) for e in errors]

    def _relocated(self, error: str) -> str:
        where, sep, text = error.partition(": ")
        path = parse_path(where)
        if len(path) < 2 or path[0] not in self.items or not isinstance(path[1], int):
            return error
        n = path[1] - self.main_counts[str(path[0])]
        if n < 0 or n >= len(self.items[str(path[0])]):
            return error
        item = self.items[str(path[0])][n]
        local = format_path((item.key, item.index, *path[2:]))
        return f"{item.file}: line {_line(item.node, path[2:])}: {local}{sep}{text}"


def _line(node: Node | None, path: tuple[Any, ...]) -> int:
    """The line of the deepest node along ``path`` (1-based)."""
    if node is None:
        return 1
    for part in path:
        nxt: Node | None = None
        if isinstance(node, MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
        if nxt is None:
            break
        node = nxt
    return int(node.start_mark.line) + 1


def _nodes(p: Path, key: str) -> list[Node]:
    """The nodes of list ``key`` in file ``p`` (already read once: it is small and valid)."""
    try:
        root = yaml.compose(p.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return []
    if isinstance(root, MappingNode):
        for k, v in root.value:
            if getattr(k, "value", None) == key and isinstance(v, SequenceNode):
                return list(v.value)
    return []


def _key_line(p: Path, key: str) -> int:
    try:
        root = yaml.compose(p.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return 1
    if isinstance(root, MappingNode):
        for k, _ in root.value:
            if getattr(k, "value", None) == key:
                return int(k.start_mark.line) + 1
    return 1


def _listed(raw: dict[str, Any], where: str, errors: list[str]) -> list[str]:
    listed = raw.get("include", [])
    if not isinstance(listed, list):
        errors.append(f"{where}include: expected a list of file paths")
        return []
    out = []
    for i, x in enumerate(listed):
        if isinstance(x, str) and x.strip():
            out.append(x)
        else:
            errors.append(f"{where}include[{i}]: expected a file path, got {x!r}")
    return out


def _expand(raw: Any, p: Path, skip: Collection[Path], extra: Sequence[Path]) -> _Found:
    """``raw`` without ``include``, each included file's lists appended in order (an
    included file may include others, relative to itself); errors name the file."""
    if not isinstance(raw, dict):
        return _Found(raw)
    doc = {k: v for k, v in raw.items() if k != "include"}
    found = _Found(doc, {k: len(v) for k in INCLUDABLE if isinstance(v := doc.get(k), list)})
    files = [(f"include[{i}]", p.parent / x) for i, x in enumerate(_listed(raw, "", found.errors))]
    known = {f.resolve() for _, f in files}
    files += [("(included)", f) for f in extra if f.resolve() not in known]
    skipped = {f.resolve() for f in skip}
    for where, f in files:
        _visit(found, f, [p.resolve()], where, skipped)
    return found


def _visit(found: _Found, f: Path, chain: list[Path], where: str, skip: set[Path]) -> None:
    real = f.resolve()
    if real in skip:
        return
    if real in chain:
        cycle = " → ".join(str(c) for c in (*chain[chain.index(real):], real))
        found.errors.append(f"{where}: {f} is already being included (a cycle: {cycle})")
        return
    try:
        sub, repeats = _parse_yaml(f)
    except ConfigError as e:
        found.errors += [f"{where}: {err}" for err in e.errors]
        return
    found.errors += [f"{f}: {r}" for r in repeats]
    if sub is None:
        return
    if not isinstance(sub, dict):
        found.errors.append(f"{f}: (top level): expected a mapping holding slos")
        return
    for key in sub:
        if key not in (*INCLUDABLE, "include"):
            found.errors.append(f"{f}: line {_key_line(f, str(key))}: {key}: an included file "
                                f"may set only {', '.join(INCLUDABLE)} (the rest belongs in "
                                "the main file)")
    for key in INCLUDABLE:
        _append(found, f, key, sub.get(key))
    for i, x in enumerate(_listed(sub, f"{f}: ", found.errors)):
        _visit(found, f.parent / x, [*chain, real], f"{f}: include[{i}]", skip)


def _append(found: _Found, f: Path, key: str, items: Any) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        found.errors.append(f"{f}: line {_key_line(f, key)}: {key}: expected a list")
        return
    if not isinstance(found.doc.get(key, []), list):
        return  # the main file's own list is refused by the schema
    nodes = _nodes(f, key)
    found.doc[key] = [*found.doc.get(key, []), *items]
    found.main_counts.setdefault(key, 0)
    found.items.setdefault(key, []).extend(
        _Item(f, key, i, nodes[i] if i < len(nodes) else None) for i in range(len(items)))


def load_config(path: str | os.PathLike[str],
                env: Mapping[str, str] | None = None, *,
                skip: Collection[Path] = (), extra: Sequence[Path] = (),
                ) -> tuple[Config, list[str]]:
    """Load the file and what it includes.  ``skip``: included files to leave out (the
    one ``slaguard openslo import`` is about to replace); ``extra``: files to include
    as if listed last (the one it has just written, before the main file names it)."""
    p = Path(path)
    raw, repeats = _parse_yaml(p)
    found = _expand(raw, p, skip, extra)
    try:
        cfg, warnings = parse_config(found.doc, env, p.parent)
    except ConfigError as e:
        raise ConfigError(repeats + found.errors + found.relocate(e.errors)) from None
    if repeats or found.errors:
        raise ConfigError(repeats + found.errors)
    return cfg, found.relocate(warnings)
