"""The customer portal in headless Chromium on the claims record (now 11-06 09:00): a claim
submitted through the form with evidence files appears with its steps and audit trail, the
customer downloads its evidence and confirms the settlement; at 375 px nothing scrolls
sideways; every button reads at WCAG AA.  Screenshots go to the test's tmp dir."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compensation.claims import Actor
from tests.claims import kit

from . import portal_kit as pk
from .browser import (
    DESKTOP,
    PHONE,
    assert_no_horizontal_overflow,
    assert_readable,
    browser,
    contrast,
    new_page,
    served,
)

REASON = "10 月 20 日上午核心服务无法打开 / core down on the morning of 10-20"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pk.write_template(tmp_path_factory.mktemp("portal-browser") / "template.db")


@pytest.fixture
def w(template: Path, tmp_path: Path) -> Iterator[pk.World]:
    world = pk.world(template, tmp_path)
    yield world
    world.close()


async def sign_in(page: Any, base: str, token: str = kit.ACME_TOKEN) -> None:
    await page.goto(base + "/portal")
    await page.get_by_label(re.compile("访问令牌")).fill(token)
    await page.get_by_role("button", name=re.compile("登录")).click()
    await page.wait_for_url(base + "/portal")


async def fill_claim(page: Any, files: list[dict[str, Any]]) -> None:
    await page.get_by_label(re.compile("月份")).select_option("2026-10")
    await page.get_by_label(re.compile("申请原因")).fill(REASON)
    await page.get_by_label(re.compile("证明材料")).fill("工单 T-123\nhttps://status.example.com/x")
    await page.get_by_label(re.compile("证明文件")).set_input_files(files)


def upload(name: str, data: bytes, mime: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


async def test_a_claim_from_the_portal_form_appears_with_its_audit_trail(
        w: pk.World, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with served(w.app()) as base, browser() as b:
        page = await new_page(b, PHONE)
        await sign_in(page, base)
        await expect(page.locator("#monitoring")).to_contain_text(
            "本月监测至今：已监测 1 天（本月的 3.3 %）")
        await assert_no_horizontal_overflow(page)
        await page.screenshot(path=str(tmp_path / "portal-375.png"), full_page=True)
        await fill_claim(page, [upload("网关日志.log", pk.LOG, "text/plain"),
                                upload("screenshot.png", pk.PNG, "image/png")])
        await page.get_by_role("button", name=re.compile("提交申请")).click()
        await page.wait_for_url(base + "/portal/claims/CLM-1")

        await expect(page.get_by_role("heading", level=1)).to_contain_text("CLM-1")
        steps = page.locator("ol.steps li")
        await expect(steps).to_have_count(6)
        await expect(steps.nth(0)).to_have_class(re.compile("step--done"))
        await expect(page.locator('ol.steps li[aria-current="step"]')).to_contain_text(
            "运营团队审核申请材料")
        audit = page.locator("table.audit tbody tr")
        await expect(audit).to_have_count(1)
        await expect(audit.first).to_contain_text("您 you")
        await expect(audit.first).to_contain_text("提交申请 submitted")
        await expect(audit.first).to_contain_text("文件 files: 网关日志.log、screenshot.png")
        await expect(page.locator(".facts")).to_contain_text(REASON)
        await assert_no_horizontal_overflow(page)
        async with page.expect_download() as download:
            await page.get_by_role("link", name="网关日志.log").click()
        saved = tmp_path / "downloaded.log"
        await (await download.value).save_as(saved)
        assert saved.read_bytes() == pk.LOG
        assert (await download.value).suggested_filename == "网关日志.log"

        # staff take steps 2-4; the customer sees them and confirms the settlement (step 5)
        w.advance("CLM-1", "computed")
        await page.reload()
        await expect(audit).to_have_count(4)
        await expect(audit.nth(3)).to_contain_text("服务方 provider · ops-li")
        await expect(audit.nth(3)).to_contain_text("计算金额 amount computed")
        await page.get_by_label("服务延期 Service extension").check()
        await page.get_by_role("button", name=re.compile("确认补偿方案")).click()
        await expect(audit).to_have_count(5)
        await expect(audit.nth(4)).to_contain_text("客户确认 confirmed")
        await expect(audit.nth(4)).to_contain_text(
            "补偿方式 settlement: 服务延期 Service extension")
        await expect(page.locator('ol.steps li[aria-current="step"]')).to_contain_text(
            "补偿执行")
        await assert_no_horizontal_overflow(page)
        shot = tmp_path / "claim-375.png"
        await page.screenshot(path=str(shot), full_page=True)
        print(f"claim page at 375 px: {shot}")
        await page.goto(base + "/portal")
        await expect(page.get_by_role("link", name="CLM-1")).to_be_visible()
        await assert_no_horizontal_overflow(page)
    assert w.claims.get("CLM-1", pk.STAFF)[0].settlement == "extension"


async def test_a_refused_file_is_explained_and_the_typed_text_kept(w: pk.World) -> None:
    from playwright.async_api import expect

    async with served(w.app()) as base, browser() as b:
        page = await new_page(b)
        await sign_in(page, base)
        await fill_claim(page, [upload("report.docx", b"PK\x03\x04word", "application/msword")])
        await page.get_by_role("button", name=re.compile("提交申请")).click()
        await expect(page.get_by_role("alert")).to_contain_text(
            "files[0] (report.docx): only PDF, PNG, JPEG or UTF-8 text")
        await expect(page.get_by_label(re.compile("申请原因"))).to_have_value(REASON)
        assert w.claims.find(pk.STAFF) == []


async def test_every_button_reads_at_wcag_aa(w: pk.World, tmp_path: Path) -> None:
    async with served(w.app()) as base, browser() as b:
        page = await new_page(b, DESKTOP)
        await page.goto(base + "/portal")
        runs = await contrast(page, "button")
        # the English half of the blue "Sign in" button used to be grey on blue (1.04:1)
        assert {r["text"] for r in runs} == {"登录", "Sign in"}
        await assert_readable(page, "button")
        await sign_in(page, base)
        await assert_readable(page, "button, a")
        await page.screenshot(path=str(tmp_path / "portal-1100.png"), full_page=True)
        print(f"portal at 1100 px: {tmp_path / 'portal-1100.png'}")
        w.claims.submit(w.claims.new_claim("acme", "2026-10", REASON), Actor.of_customer("acme"))
        w.advance("CLM-1", "computed")
        await page.goto(base + "/portal/claims/CLM-1")
        await assert_readable(page, "button, a")
        await page.screenshot(path=str(tmp_path / "claim-1100.png"), full_page=True)
        print(f"claim page at 1100 px: {tmp_path / 'claim-1100.png'}")
