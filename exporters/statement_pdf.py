"""``statement --format pdf``: the HTML statement through WeasyPrint, with a CJK font.

Without a font that has the Chinese glyphs WeasyPrint draws empty boxes (tofu)
and still succeeds, so the check comes first: fontconfig (``fc-list``, the
library WeasyPrint itself resolves fonts through) must know a font covering
every CJK character of the document, and some font for every other non-ASCII
character.  When it does not, :class:`CJKFontMissing` says what to install;
a statement is never printed with boxes.  The font found is put first in the
page's font stack.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Protocol

from exporters import statement_html
from slaguard.errors import SlaguardError
from slo.statement import Statement

INSTALL_HINT = ("install a CJK font (Debian/Ubuntu: apt-get install fonts-noto-cjk; "
                "or fonts-wqy-microhei) and check with: fc-list :lang=zh")
# CJK radicals … Yi, compatibility ideographs, CJK compatibility forms, full-width forms.
_CJK_RANGES = ((0x2E80, 0xA4CF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF))



class Fonts(Protocol):
    def families(self, chars: Iterable[str]) -> list[str]:
        """Installed font families that cover every one of ``chars``."""
        ...


class CJKFontMissing(SlaguardError):
    """No installed font can draw the statement's Chinese text."""


def is_cjk(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in _CJK_RANGES)


class _Text(HTMLParser):
    """The characters a reader sees (text and attribute values, not tags or CSS)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chars: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chars.update(data)


def visible_chars(html: str) -> set[str]:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return {c for c in parser.chars if ord(c) > 0x7E}


def _fc_list() -> str:
    path = shutil.which("fc-list")
    if path is None:
        raise CJKFontMissing("cannot check for a CJK font: fontconfig's fc-list is not "
                             f"installed (Debian: fontconfig); {INSTALL_HINT}")
    return path


class FontConfig:
    """The installed fonts, as fontconfig (and so WeasyPrint) sees them."""

    def families(self, chars: Iterable[str]) -> list[str]:
        charset = " ".join(sorted(f"{ord(c):x}" for c in set(chars)))
        out = subprocess.run([_fc_list(), "--format", "%{family[0]}\n", f":charset={charset}"],
                             capture_output=True, text=True, timeout=30, check=False)
        if out.returncode != 0:
            raise CJKFontMissing(f"fc-list failed ({out.returncode}): {out.stderr.strip()}")
        return sorted({line.strip() for line in out.stdout.splitlines() if line.strip()})


def _preference(family: str) -> tuple[bool, bool, bool, str]:
    """Simplified Chinese first, then sans over serif, proportional over mono."""
    return ("SC" not in family.split(), "Mono" in family, "Serif" in family, family)


def choose_font(chars: set[str], fonts: Fonts | None = None) -> str:
    """The family to print ``chars`` with: one covering all their CJK characters (and
    every other character covered by some font).  Raises :class:`CJKFontMissing`
    rather than let a PDF show empty boxes."""
    fonts = fonts if fonts is not None else FontConfig()
    cjk = {c for c in chars if is_cjk(c)} | set("补偿")
    families = fonts.families(cjk)
    if not families:
        raise CJKFontMissing(f"no installed font covers the statement's Chinese text "
                             f"({len(cjk)} characters such as 补偿); a PDF would show empty "
                             f"boxes. {INSTALL_HINT}")
    if not fonts.families(chars):
        missing = sorted(c for c in chars - cjk if not fonts.families([c]))
        if missing:
            shown = ", ".join(f"U+{ord(c):04X} {c}" for c in missing[:10])
            raise CJKFontMissing(f"no installed font covers {shown}; a PDF would show "
                                 f"empty boxes. {INSTALL_HINT}")
    return min(families, key=_preference)


# WeasyPrint logs every rendering step ("Step 5 - Creating layout") and fontTools each
# font subset at INFO: progress of a library, not events of ours.
QUIET_LOGGERS = ("weasyprint", "fontTools")


def quiet_renderer_logs() -> None:
    """At WARNING: their warnings stay; a level set on them beforehand is kept."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def render(statement: Statement, *, fonts: Fonts | None = None) -> bytes:
    """The statement as PDF bytes (A4).  Raises :class:`CJKFontMissing` without a CJK font."""
    quiet_renderer_logs()  # before the import: it parses its own stylesheets, logging each
    from weasyprint import HTML  # heavy import (Pango), only when a PDF is asked for

    chars = visible_chars(statement_html.render(statement))
    family = choose_font(chars, fonts)
    pdf: bytes = HTML(string=statement_html.render(statement, font_family=family)).write_pdf()
    return pdf
