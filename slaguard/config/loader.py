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

from slaguard.config import yamldoc
from slaguard.config.calendar import load_calendar
from slaguard.config.salvage import partial
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


def load_config(path: str | os.PathLike[str],
                env: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    p = Path(path)
    text = _read(p)
    try:
        raw, repeats = yamldoc.load(text)
    except yaml.YAMLError as e:
        # The context mark is where the broken construct starts, which is the
        # line a person has to fix; the problem mark is often the line after.
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        what = "" if isinstance(e, yamldoc.Refused) else "invalid YAML: "
        raise ConfigError([f"{p}: {where}{what}{problem}"]) from None
    try:
        cfg, warnings = parse_config(raw, env, p.parent)
    except ConfigError as e:
        raise ConfigError(repeats + e.errors) from None
    if repeats:
        raise ConfigError(repeats)
    return cfg, warnings
