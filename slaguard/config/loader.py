"""Load a configuration: YAML → ${ENV} interpolation → schema → semantic checks.

All problems are collected, each as ``path: message``, and raised together in
one ``ConfigError`` so a user fixes a file in one pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from slaguard.config.calendar import load_calendar
from slaguard.config.schema import CHANNEL_KINDS, TARGET_KINDS, Config
from slaguard.config.validate import check, warnings_for
from slaguard.errors import ConfigError

_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Discriminated unions put the tag into the error location; users never wrote it.
_UNION_TAGS = {"targets": set(TARGET_KINDS), "channels": set(CHANNEL_KINDS)}


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


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


def _loc(err: Mapping[str, Any]) -> tuple[Any, ...]:
    loc = tuple(p for p in err["loc"] if p != "[key]")  # a bad dict key: name the key
    if len(loc) > 2 and loc[0] in _UNION_TAGS and loc[2] in _UNION_TAGS[loc[0]]:
        loc = loc[:2] + loc[3:]
    return loc


_BOUNDS = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
           "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}


def _message(err: Mapping[str, Any]) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    if kind == "union_tag_not_found":
        return "required"
    if kind == "union_tag_invalid":
        expected = err.get("ctx", {}).get("expected_tags", "")
        return f"unknown kind {err['ctx']['tag']!r} (expected one of {expected})"
    if kind in _BOUNDS:
        word, key = _BOUNDS[kind]
        return f"must be {word} {err['ctx'][key]}"
    if kind == "literal_error":
        return f"must be one of {err['ctx']['expected']}, got {err['input']!r}"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return str(msg[0].lower() + msg[1:]) if msg else kind


def _schema_errors(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = _loc(err)
        if err["type"] in ("union_tag_not_found", "union_tag_invalid"):
            loc = (*loc, "kind")
        out.append(f"{format_path(loc)}: {_message(err)}".lstrip(": "))
    return out


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


def parse_config(raw: Any, env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> tuple[Config, list[str]]:
    """Validate an already-parsed YAML document. Returns the config and its warnings."""
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): expected a mapping"])
    doc = interpolate(raw, os.environ if env is None else env, (), errors)
    try:
        cfg = Config.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(errors + _schema_errors(exc)) from None
    errors += check(cfg)
    cfg = _absolute_paths(cfg, base_dir)
    if not errors and cfg.availability.maintenance.calendar_overrides:
        try:
            load_calendar(cfg)  # a bad override file stops start-up too
        except ConfigError as e:
            errors += e.errors
    if errors:
        raise ConfigError(errors)
    return cfg, warnings_for(cfg)


def load_config(path: str | os.PathLike[str],
                env: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{p}: cannot read: {e.strerror}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        # The context mark is where the broken construct starts, which is the
        # line a person has to fix; the problem mark is often the line after.
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"{p}: {where}invalid YAML: {problem}"]) from None
    return parse_config(raw, env, p.parent)
