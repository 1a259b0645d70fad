"""``statement --format json``: the statement's dictionary, hash included.

Fields (docs/design.md "Interfaces"): ``customer``, ``month``, ``currency``, ``fee``,
``lines`` (``kind``, ``service``, ``rule``, ``percent``, ``amount``), ``total``,
``total_in_words``, ``policy_version``, ``hash``, and the rest of the statement
(services with outages and maintenance, incidents, settlement, claim).  Money
is a string with two decimals; ``hash`` can be checked with
:func:`slo.statement.content_hash` on the parsed document.
"""

from __future__ import annotations

import json

from slo.statement import Statement


def render(statement: Statement) -> str:
    return json.dumps(statement.to_dict(), ensure_ascii=False, indent=2) + "\n"
