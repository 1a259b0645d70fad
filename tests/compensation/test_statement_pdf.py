"""The PDF statement: real WeasyPrint with a real CJK font, read back with pypdf."""

from __future__ import annotations

import io
from collections.abc import Iterable

import pytest

from exporters import statement_html, statement_pdf
from exporters.statement_pdf import CJKFontMissing, choose_font, visible_chars
from slaguard.policy import compensation_policy
from slo.statement import Statement, build_statement
from tests.conftest import require_cjk_font

from . import scenario as sc


@pytest.fixture(scope="module")
def statement() -> Statement:
    cfg = sc.config()
    return build_statement(sc.report(cfg), cfg.customers[0], compensation_policy(cfg),
                           sc.INCIDENTS, sc.NOW)


@pytest.fixture(scope="module")
def pdf(statement: Statement) -> bytes:
    require_cjk_font()
    return statement_pdf.render(statement)


def _text_and_fonts(pdf: bytes) -> tuple[str, set[str]]:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    fonts: set[str] = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():  # type: ignore[index]
            fonts.add(str(font.get_object()["/BaseFont"]))
    return text, fonts


def test_pdf_has_the_chinese_labels_and_the_amounts(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-")
    text, fonts = _text_and_fonts(pdf)
    for label in ("服务补偿对账单", "补偿申请流程", "服务补偿标准", "补偿明细", "大写金额",
                  "补偿执行方式", "费用减免", "服务延期", "客户提交补偿申请及相关证明",
                  "某某建设集团有限公司", "人民币捌仟肆佰元整", "SLA compensation statement"):
        assert label in text, label
    for amount in ("12000.00", "1200.00", "6000.00", "8400.00", "99.854 %"):
        assert amount in text, amount
    # The glyphs come from an embedded CJK font (subset), not from a fallback with boxes.
    assert any("CJK" in f for f in fonts), fonts


class NoFonts:
    def families(self, chars: Iterable[str]) -> list[str]:
        return []


class CjkOnly:
    """A font with the Chinese glyphs but no ≥, and nothing else installed."""

    def families(self, chars: Iterable[str]) -> list[str]:
        return [] if "≥" in set(chars) else ["Fake Sans SC"]


def test_without_a_cjk_font_the_pdf_fails_loudly(statement: Statement) -> None:
    with pytest.raises(CJKFontMissing, match="fonts-noto-cjk") as e:
        statement_pdf.render(statement, fonts=NoFonts())
    assert "补偿" in str(e.value) and "empty boxes" in str(e.value)


def test_a_symbol_no_font_has_fails_too(statement: Statement) -> None:
    with pytest.raises(CJKFontMissing, match="U\\+2265"):
        statement_pdf.render(statement, fonts=CjkOnly())


def test_font_choice_prefers_simplified_chinese_sans() -> None:
    class Many:
        def families(self, chars: Iterable[str]) -> list[str]:
            return ["Noto Serif CJK SC", "Noto Sans CJK JP", "Noto Sans Mono CJK SC",
                    "Noto Sans CJK SC"]

    assert choose_font({"补", "偿"}, Many()) == "Noto Sans CJK SC"


def test_visible_chars_skip_css_and_markup(statement: Statement) -> None:
    chars = visible_chars(statement_html.render(statement))
    assert {"补", "偿", "≥", "→"} <= chars
    assert visible_chars("<style>p::before { content: '补' }</style><p>a&gt;b</p>") == set()


def test_the_real_fonts_are_checked() -> None:
    require_cjk_font()
    assert "CJK" in choose_font(set("服务补偿≥→−"))
