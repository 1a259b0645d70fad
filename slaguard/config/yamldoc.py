"""Reading the YAML of a configuration, refusing a key written twice.

YAML loaders keep the last of two equal keys without a word: a second
``server:`` block silently replaces the first, ``api_token`` and all.  The node
tree still has both, with their lines, so each repeat is reported as
``path: message`` naming both lines.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from slaguard.config.schema_errors import Path, format_path

_MERGE = "tag:yaml.org,2002:merge"


def load(text: str) -> tuple[Any, list[str]]:
    """The document and one error per repeated key; ``yaml.YAMLError`` when it is not
    YAML at all."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc = None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
    errors: list[str] = []
    if node is not None:
        _repeats(node, (), set(), errors)
    return doc, errors


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
