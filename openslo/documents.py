"""Reading ``openslo/v1`` files: YAML documents, validated by :mod:`openslo.model`.

Each error reads ``FILE: document N (KIND NAME): path.to.field: message`` (``N`` counts
the file's non-empty documents from 1), so a person finds the document and the field
at once.  A file is split at its ``---`` lines and each document read like a
configuration (:mod:`slaguard.config.yamldoc`): a key written twice is refused, and
so are nesting past 64 levels and alias bombs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from openslo.model import KINDS, MODELS, TAGS, Envelope
from slaguard.config import yamldoc
from slaguard.config.schema_errors import format_path, message
from slaguard.errors import SlaguardError

# An SLO set is a few hundred documents; past this a file is not one.
MAX_FILE_BYTES = 4 << 20
_SEPARATOR = re.compile(r"^---[ \t]*(#.*)?$")
# A validator's message may begin with the path below its own location.
_SUB_PATH = re.compile(r"^([A-Za-z][A-Za-z0-9_]*(?:\[\d+\])*(?:\.[A-Za-z][A-Za-z0-9_]*"
                       r"(?:\[\d+\])*)*): (.*)$", re.S)


class OpenSLOError(SlaguardError):
    """OpenSLO documents that cannot be taken in; every problem listed, one a line."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass
class Doc:
    """One document: where it is, what it says, its model when it validated."""

    file: str
    index: int  # 1-based among the file's documents
    raw: Any
    line: int = 1
    model: Envelope | None = None

    @property
    def kind(self) -> str:
        kind = self.raw.get("kind") if isinstance(self.raw, dict) else None
        return kind if isinstance(kind, str) else ""

    @property
    def name(self) -> str:
        meta = self.raw.get("metadata") if isinstance(self.raw, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else ""

    @property
    def label(self) -> str:
        what = " ".join(x for x in (self.kind, self.name) if x)
        return f"{self.file}: document {self.index}" + (f" ({what})" if what else "")


@dataclass
class Problems:
    """Errors collected over every document, each naming its document and field."""

    errors: list[str] = field(default_factory=list)

    def at(self, doc: Doc, path: str, text: str) -> None:
        where = f"{path}: " if path else ""
        line = f"{doc.label}: {where}{text}"
        if line not in self.errors:
            self.errors.append(line)

    def raise_any(self) -> None:
        if self.errors:
            raise OpenSLOError(self.errors)


def split(text: str) -> list[tuple[int, str]]:
    """The documents of a multi-document YAML text, each with its first line number."""
    chunks: list[tuple[int, str]] = []
    start, lines = 1, list[str]()
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        if _SEPARATOR.match(line.rstrip("\r\n")):
            chunks.append((start, "".join(lines)))
            start, lines = n + 1, []
        else:
            lines.append(line)
    chunks.append((start, "".join(lines)))
    return chunks


def read_file(path: str) -> str:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise OpenSLOError([f"{path}: cannot read: {e.strerror}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise OpenSLOError([f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; an SLO set is "
                            "far smaller"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise OpenSLOError([f"{path}: line {line}: not UTF-8 (save the file as UTF-8)"]) from None


def parse(file: str, text: str, problems: Problems) -> list[Doc]:
    """Every non-empty document of ``text``, validated; problems collected."""
    docs: list[Doc] = []
    for first_line, chunk in split(text):
        try:
            # Blank lines in front keep every line number the file's own.
            raw, repeats = yamldoc.load("\n" * (first_line - 1) + chunk)
        except yaml.YAMLError as e:
            mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            problem = getattr(e, "problem", None) or str(e)
            problems.errors.append(f"{file}: document {len(docs) + 1}: {where}invalid YAML: "
                                   f"{problem}")
            docs.append(Doc(file, len(docs) + 1, None, first_line))
            continue
        if raw is None:
            continue
        doc = Doc(file, len(docs) + 1, raw, first_line)
        docs.append(doc)
        for r in repeats:
            problems.at(doc, "", r)
        doc.model = validate(doc, problems)
    return docs


def validate(doc: Doc, problems: Problems) -> Envelope | None:
    raw = doc.raw
    if not isinstance(raw, dict):
        problems.at(doc, "", "expected a mapping (apiVersion, kind, metadata, spec)")
        return None
    if raw.get("apiVersion") != "openslo/v1":
        problems.at(doc, "apiVersion", f"must be openslo/v1, got {raw.get('apiVersion')!r}")
        return None
    model = MODELS.get(doc.kind)
    if model is None:
        problems.at(doc, "kind", f"must be one of {', '.join(KINDS)}, got {raw.get('kind')!r}")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for path, text in errors_of(exc):
            problems.at(doc, path, text)
        return None


def errors_of(exc: ValidationError, prefix: tuple[str | int, ...] = ()
              ) -> list[tuple[str, str]]:
    """``(path, message)`` for each error, in the document's own terms: union tags
    left out, a path a validator put in front of its message moved into the path."""
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = (*prefix, *(p for p in err["loc"] if p not in TAGS))
        text = message(err, loc, None)
        m = _SUB_PATH.match(text)
        if m and err["type"] == "value_error":
            sub, text = m.group(1), m.group(2)
            path = format_path(loc)
            path = f"{path}.{sub}" if path else sub
        else:
            path = format_path(loc)
        if (path, text) not in out:
            out.append((path, text))
    return out
