"""``statement --format csv``: the credit lines, one row each, then the total.

For finance imports: every row repeats the statement number, customer, month and
currency.  The last row has ``kind`` ``total``, the total in ``amount`` and the
amount in Chinese capital numerals in ``rule_zh``.  RFC 4180 (CRLF line ends);
``bom=True`` prefixes a UTF-8 byte-order mark, which spreadsheet programs need to
read the Chinese text correctly.
"""

from __future__ import annotations

import csv
import io

from slo.compensation import money_text, pct
from slo.statement import Statement

COLUMNS = ("statement", "customer", "month", "currency", "kind", "service", "incident",
           "percent", "amount", "review", "rule", "rule_zh", "hash")


def render(statement: Statement, *, bom: bool = False) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    head = [statement.number, statement.customer_id, statement.period.label,
            statement.policy.currency]
    digest = statement.hash
    for x in statement.lines:
        w.writerow([*head, x.kind, x.service or "", x.incident or "", pct(x.percent),
                    money_text(x.amount), "yes" if x.review else "", x.rule, x.rule_zh, digest])
    w.writerow([*head, "total", "", "", "", money_text(statement.total), "",
                "sum of the rounded lines", statement.credits.total_in_words, digest])
    return ("\ufeff" if bom else "") + out.getvalue()
