"""A debtor on a phone opens the link, reads what is owed, sets up a plan and pays its first
instalment (simulated provider), in Debian's Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_smoke import sign_in

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def debtor_link(page) -> str:
    """A collector copies the payment link of a case in the demand stage."""
    sign_in(page, "colin@agency.example")
    page.goto("/agency/?due=all&stage=amicable.demand")
    page.goto(page.locator("table.cases tbody tr a[data-row-link]").first.get_attribute("href"))
    link = page.locator("a.debtor-link").get_attribute("href")
    assert link and "/pay/" in link
    return link


def test_a_debtor_on_a_phone_sets_up_six_instalments_and_pays_the_first(
    page, browser, live_server: str, tmp_path: Path
) -> None:
    link = debtor_link(page)
    phone = browser.new_context(base_url=live_server, viewport=PHONE, locale="en-GB")
    debtor = phone.new_page()
    errors: list[str] = []
    debtor.on("console", lambda message: message.type == "error" and errors.append(message.text))

    debtor.goto(link)
    if debtor.locator("button[lang=en]").count():  # a debtor in Germany reads German first
        debtor.click("button[lang=en]")
    expect(debtor.locator("h1")).to_contain_text("you owe")
    expect(debtor.locator("table.money tfoot")).to_contain_text("To pay")
    assert debtor.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    debtor.click("text=Choose a payment plan")
    debtor.select_option("#instalments", "6")
    debtor.check("input[name=frequency][value=monthly]")
    debtor.click("button:has-text('Show the schedule')")
    expect(debtor.locator("#schedule table.schedule tbody tr")).to_have_count(6)
    debtor.screenshot(path=str(_shots(tmp_path) / "debtor-plan-390.png"), full_page=True)
    debtor.click("button:has-text('Agree to this plan')")

    expect(debtor.locator("h1")).to_have_text("Your payment plan")
    debtor.click("button:has-text('Pay the first instalment')")
    expect(debtor.locator(".simulated-checkout h1")).to_contain_text("Pay")
    debtor.click("button[value=pay]")

    expect(debtor.locator("[role=status]")).to_contain_text("payment plan is running")
    debtor.click("text=Back to your account")
    statuses = debtor.locator("table.schedule tbody tr td:last-child").all_inner_texts()
    assert statuses == ["Paid"] + ["Scheduled"] * 5
    expect(debtor.locator("a", has_text="receipt-")).to_have_count(1)
    debtor.screenshot(path=str(_shots(tmp_path) / "debtor-account-390.png"), full_page=True)
    assert errors == []
    phone.close()


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``SCREENSHOT_DIR`` when set (to look at them), else the test's tmp."""
    folder = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
