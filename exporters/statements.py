"""Statement renderers by format: one module per format, one ``render(statement)``."""

from __future__ import annotations

from collections.abc import Callable

from exporters import statement_csv, statement_html, statement_json, statement_pdf
from slo.statement import Statement

RENDERERS: dict[str, Callable[[Statement], str | bytes]] = {
    "json": statement_json.render,
    "csv": statement_csv.render,
    "html": statement_html.render,
    "pdf": statement_pdf.render,
}
