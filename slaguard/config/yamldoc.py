"""Reading the YAML of a configuration, refusing a key written twice.

YAML loaders keep the last of two equal keys without a word: a second
``server:`` block silently replaces the first, ``api_token`` and all.  The node
tree still has both, with their lines, so each repeat is reported as
``path: message`` naming both lines.

A file can also be small and still cost without bound: 10 000 nested ``[``
exhausts the composer's recursion, an alias inside its own anchor makes a
cycle, and nine levels of nine aliases ("billion laughs") stand for 9**9
values once anything copies them (the ``${VAR}`` substitution does, and so does
the schema).  So the composer refuses nesting past :data:`MAX_DEPTH`, and before
anything is built the node graph is walked once (each shared node counted once
per use, memoised) to refuse a cycle or more than :data:`MAX_VALUES` values,
each with the line of the node at fault.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from slaguard.config.schema_errors import Path, format_path

_MERGE = "tag:yaml.org,2002:merge"
# A configuration is a few levels deep; 64 leaves room and keeps every recursive
# step after it (substitution, schema, error paths) far from Python's limit.
MAX_DEPTH = 64
# The reference configuration holds a few hundred values; aliases may repeat a
# block, but not multiply it into millions.
MAX_VALUES = 100_000


class Refused(yaml.MarkedYAMLError):
    """YAML that parses but is refused: too deep, a recursive alias, too many values."""

    def __init__(self, problem: str, mark: yaml.Mark | None):
        super().__init__(problem=problem, problem_mark=mark)


class _Bounded(Composer):
    """PyYAML's composer, with a bound on nesting (it recurses once per level)."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        events: Any = self  # the parser's side of the loader (the stubs omit it)
        if events.check_event(AliasEvent):  # not a level: the anchored node was counted
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise Refused(f"nested more than {MAX_DEPTH} levels deep",
                          events.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _Loader(_Bounded, CParser, SafeConstructor, Resolver):
        """libyaml's parser (ten times faster: 256 KiB in about 0.5 s, not 5 s) under
        the Python composer, which alone can bound nesting and see aliases."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            _Bounded.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    class _Loader(_Bounded, yaml.SafeLoader):  # type: ignore[no-redef]
        pass


def load(text: str) -> tuple[Any, list[str]]:
    """The document and one error per repeated key; ``yaml.YAMLError`` when it is not
    YAML at all, :class:`Refused` when it is YAML no configuration needs."""
    loader = _Loader(text)
    try:
        node = _compose(loader)
        if node is not None:
            _count(node, {}, set())
        doc = None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
    errors: list[str] = []
    if node is not None:
        _repeats(node, (), set(), errors)
    return doc, errors


def _compose(loader: _Loader) -> Node | None:
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        # libyaml stops at 1000 levels before the composer sees 64 (it scans a flow
        # collection ahead): the same refusal, in the same words.
        if e.problem == "exceeded maximum nesting depth":
            raise Refused(f"nested more than {MAX_DEPTH} levels deep", e.problem_mark) from None
        raise


def _count(node: Node, sizes: dict[int, int], inside: set[int]) -> int:
    """How many values ``node`` stands for with every alias written out; :class:`Refused`
    at a cycle or at the innermost node holding more than :data:`MAX_VALUES`."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in inside:
        raise Refused("a recursive alias: this anchored value contains an alias to itself",
                      node.start_mark)
    children: list[Node] = []
    if isinstance(node, SequenceNode):
        children = node.value
    elif isinstance(node, MappingNode):
        children = [n for pair in node.value for n in pair]
    inside.add(key)
    size = 1
    for child in children:
        size += _count(child, sizes, inside)
        if size > MAX_VALUES:
            raise Refused(f"with its aliases written out this value holds more than "
                          f"{MAX_VALUES:,} values; a configuration needs far fewer",
                          node.start_mark)
    inside.discard(key)
    sizes[key] = size
    return size


def _repeats(node: Node, path: Path, seen: set[int], errors: list[str]) -> None:
    if id(node) in seen:  # an alias: its node was checked where the anchor is
        return
    seen.add(id(node))
    if isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _repeats(item, (*path, i), seen, errors)
    elif isinstance(node, MappingNode):
        first: dict[tuple[str, str], tuple[ScalarNode, Node]] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE:
                _repeats(value, path, seen, errors)
                continue
            where = (*path, key.value)
            earlier = first.setdefault((key.tag, key.value), (key, value))
            if earlier[0] is not key:
                errors.append(_repeat(where, earlier, value, key))
            _repeats(value, where, seen, errors)


def _repeat(path: Path, earlier: tuple[ScalarNode, Node], value: Node, key: ScalarNode) -> str:
    lines = f"lines {earlier[0].start_mark.line + 1} and {key.start_mark.line + 1}"
    lost = _dropped(earlier[1], value)
    what = f", which drops {', '.join(lost)}" if lost else ""
    return (f"{format_path(path)}: duplicate key, on {lines} (YAML keeps only the last"
            f"{what}; merge them into one)")


def _dropped(first: Node, last: Node) -> list[str]:
    """Keys of the first mapping the last one does not have: what the repeat loses."""
    if not (isinstance(first, MappingNode) and isinstance(last, MappingNode)):
        return []
    kept = {k.value for k, _ in last.value if isinstance(k, ScalarNode)}
    return [k.value for k, _ in first.value if isinstance(k, ScalarNode) and k.value not in kept]
