"""A journey run's values: templates, extracted values and secrets (probes.journey).

Rendering fails with ``MissingValue`` when a template names a value no step has
extracted in this run (its step failed or was skipped): the config check already
refuses a name that no earlier step extracts at all.  ``mask`` replaces every secret
(a secret var, an extracted value marked ``secret``) with ``***`` in any text that
leaves the probe: error messages, logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from probes.errors import ProbeFailure
from slaguard.config.journey import TEMPLATE
from slaguard.domain import ErrorClass

MASK = "***"


class MissingValue(ProbeFailure):
    """A template names a value this run never extracted (an earlier step failed)."""

    error_class = ErrorClass.ASSERTION


@dataclass
class Values:
    base: str
    vars: dict[str, str]
    extracted: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)

    def value(self, name: str) -> str:
        if name == "base":
            return self.base
        if name.startswith("vars.") and name[5:] in self.vars:
            return self.vars[name[5:]]
        if name in self.extracted:
            return self.extracted[name]
        raise MissingValue(f"{{{{{name}}}}} has no value: the step that extracts it "
                           "did not succeed in this run")

    def render(self, text: str) -> str:
        return TEMPLATE.sub(lambda m: self.value(m.group(1)), text)

    def render_json(self, doc: Any) -> Any:
        if isinstance(doc, str):
            return self.render(doc)
        if isinstance(doc, dict):
            return {k: self.render_json(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [self.render_json(v) for v in doc]
        return doc

    def keep(self, name: str, value: str, secret: bool) -> None:
        self.extracted[name] = value
        if secret:
            self.add_secret(value)

    def add_secret(self, value: str) -> None:
        # Also as a URL would carry it: aiohttp's errors quote the URL they failed on.
        if value:
            self.secrets |= {value, quote(value), quote(value, safe="")}

    def mask(self, text: str) -> str:
        # Longest first: a secret that contains another is masked whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text
