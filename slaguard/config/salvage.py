"""When the schema refuses parts of a file, check the rest anyway.

A person fixing a file wants every error in one run, but the semantic checks
(references, orderings, duplicates) need a typed ``Config``.  So what the
schema refused is set aside and the rest validated again:

- an unknown key is deleted (it was never going to be read);
- a bad value of a key that has a default is left to the default, and a check
  of the part that holds it which names that key is not trusted (it would judge
  the default: ``timeout: must be shorter than interval``);
- anything else takes its record with it: the target, service, channel, tier …
  (the element of a list or the entry of a mapping) is left out, and a check
  naming it (``unknown service 'core'``) is not trusted.

The checks then run on what remains; their paths are mapped back to the file's
own list positions.  A file whose top level is refused (no ``services``, a
wrong ``version``) gets its schema errors only.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, get_origin

from pydantic import ValidationError

from slaguard.config.schema import Config
from slaguard.config.schema_errors import Path, format_path, is_model, model_field, walk

MAX_ROUNDS = 5
_PATH = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass
class SetAside:
    """What was set aside, in the file's own positions."""

    kept: dict[Path, list[int]] = field(default_factory=dict)  # list → its positions left
    defaults: set[tuple[Path, str]] = field(default_factory=set)  # (holder, key) defaulted
    lists: set[Path] = field(default_factory=set)  # lists and mappings that lost a record
    names: set[str] = field(default_factory=set)  # names and ids of records left out

    def original(self, path: Path) -> Path:
        out: list[str | int] = []
        for part in path:
            positions = self.kept.get(tuple(out))
            if isinstance(part, int) and positions is not None and part < len(positions):
                part = positions[part]
            out.append(part)
        return tuple(out)

    def trusts(self, path: Path, message: str) -> bool:
        if path in self.lists or any(repr(name) in message for name in self.names):
            return False
        return not any(path[:len(holder)] == holder and _names(key, path[len(holder):], message)
                       for holder, key in self.defaults)

    def filter(self, errors: list[str]) -> list[str]:
        """The checks' errors that do not rest on what was set aside, at file positions."""
        if not (self.kept or self.defaults or self.lists):
            return errors
        out = []
        for e in errors:
            where, sep, text = e.partition(": ")
            path = self.original(parse_path(where))
            if self.trusts(path, text):
                out.append(f"{format_path(path)}{sep}{text}")
        return out


def _names(key: str, path: Path, message: str) -> bool:
    """Does a check's error speak of ``key``?  (``channels`` left to its default makes
    every "unknown channel" an artefact.)"""
    stem = key[:-1] if key.endswith("s") else key
    return key in path or re.search(rf"\b{re.escape(stem)}", message) is not None


def parse_path(text: str) -> Path:
    return tuple(int(m[2]) if m[2] else m[1] for m in _PATH.finditer(text))


@dataclass(frozen=True)
class _Action:
    how: str  # "delete" (unknown key), "default" (bad optional value), "remove" (record)
    path: Path  # in the current document


def partial(doc: dict[str, Any], exc: ValidationError) -> tuple[Config | None, SetAside]:
    """The config of what the schema accepts, and what was set aside for it; None when
    the top level itself is refused."""
    doc = copy.deepcopy(doc)
    aside = SetAside()
    for _ in range(MAX_ROUNDS):
        found = {_action(err) for err in exc.errors(include_url=False)}
        actions = {a for a in found if a is not None}
        if len(actions) < len(found):  # the top level itself
            return None, aside
        applied = [_apply(doc, a, aside) for a in _ordered(actions)]
        if not any(applied):
            return None, aside
        try:
            return Config.model_validate(doc), aside
        except ValidationError as e:
            exc = e
    return None, aside


def _action(err: Any) -> _Action | None:
    path, holders = walk(tuple(err["loc"]))
    if not path:
        return None
    if err["type"] == "extra_forbidden":
        return _Action("delete", path)
    f = model_field(holders[-1], path[-1]) if is_model(holders[-1]) else None
    if f is not None and not f.is_required() and err["type"] != "missing" \
            and not err["type"].startswith("union_tag"):
        return _Action("default", path)
    for i in range(len(path), 0, -1):  # the nearest record: an element of a list or mapping
        if get_origin(holders[i - 1]) in (list, dict):
            return _Action("remove", path[:i])
    return None


def _ordered(actions: set[_Action]) -> list[_Action]:
    """Deepest and last first, so a removal never shifts a position still to be used."""
    def key(a: _Action) -> list[tuple[int, Any]]:
        return [(0, p) if isinstance(p, int) else (1, p) for p in a.path]
    return sorted(actions, key=key, reverse=True)


def _apply(doc: Any, action: _Action, aside: SetAside) -> bool:
    *head, last = action.path
    holder = _get(doc, tuple(head))
    if not _has(holder, last):
        return False
    value = holder.pop(last)
    where = aside.original(tuple(head))
    if action.how == "default":
        aside.defaults.add((where, str(last)))
    elif action.how == "remove":
        aside.lists.add(where)
        if isinstance(holder, list) and isinstance(last, int):
            positions = aside.kept.setdefault(where, list(range(len(holder) + 1)))
            del positions[last]
        name = last if isinstance(holder, dict) else _name(value)
        if isinstance(name, str):
            aside.names.add(name)
    return True


def _has(holder: Any, part: str | int) -> bool:
    if isinstance(holder, dict):
        return part in holder
    return isinstance(holder, list) and isinstance(part, int) and part < len(holder)


def _get(doc: Any, path: Path) -> Any:
    for part in path:
        if not _has(doc, part):
            return None
        doc = doc[part]
    return doc


def _name(record: Any) -> object:
    return record.get("name", record.get("id")) if isinstance(record, dict) else None
