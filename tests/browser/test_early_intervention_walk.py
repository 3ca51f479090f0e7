"""An invoice handed over early, walked from placement to payment in Debian's Chromium: the
creditor places it for a check, a collector confirms it with the debtor, the debtor pays
in full on a phone (simulated provider), and the check ends paid with its fee."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.db import utcnow
from tests.browser.test_debtor_payment import PHONE, _shots
from tests.browser.test_smoke import sign_in

pytestmark = pytest.mark.browser
DEBTOR = "Early Bird Logistics"
TODAY = utcnow().date()


def place_for_a_check(browser, live_server: str) -> None:
    """The creditor, in a browser of their own, hands the invoice over for a check."""
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    sign_in(page, "finance@acme.example")
    page.click("text=Place an account")
    page.fill("#creditor_reference", "ACME-EARLY-1")
    page.fill("#debtor_name", DEBTOR)
    page.fill("#email", "ap@earlybird.example")
    page.fill("#invoices-0-number", "INV-E-1")
    page.fill("#invoices-0-issue_date", (TODAY - timedelta(days=33)).isoformat())
    page.fill("#invoices-0-due_date", (TODAY - timedelta(days=3)).isoformat())
    page.fill("#invoices-0-amount", "840.00")
    expect(page.locator("#quote table.money")).to_contain_text("840.00", timeout=30_000)
    page.check("#early_intervention")
    page.click("button[name=place]")
    page.wait_for_url("**/creditor/cases/**")
    assert "Placed. The agency reference is" in page.content()
    context.close()


def confirm_with_the_debtor(page, shots: Path) -> str:
    """The collector takes the check from the queue and records the promised date."""
    sign_in(page, "carla@agency.example")
    page.click("nav >> text=Checks")
    row = page.locator("table.check-queue tbody tr", has_text=DEBTOR)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("840.00")
    page.screenshot(path=str(shots / "check-queue.png"), full_page=True)
    row.locator("a[data-row-link]").click()
    section = page.locator("#check")
    expect(section).to_contain_text("open")
    section.screenshot(path=str(shots / "check-section-open.png"))
    promised = TODAY + timedelta(days=7)
    section.locator("input[name=check-answer][value=confirmed]").check()
    section.locator("#check-expected_on").fill(promised.isoformat())
    section.locator("button:has-text('Record the answer')").click()
    expect(page.locator("[role=alert], .flash").first).to_contain_text("Answer recorded")
    expect(section).to_contain_text("confirmed")
    expect(page.locator("body")).to_contain_text(f"Will pay by {promised.isoformat()}")
    return page.url.split("#")[0]


def pay_in_full_on_a_phone(browser, live_server: str, link: str) -> None:
    phone = browser.new_context(base_url=live_server, viewport=PHONE, locale="en-GB")
    debtor = phone.new_page()
    errors: list[str] = []
    debtor.on("console", lambda message: message.type == "error" and errors.append(message.text))
    debtor.goto(link)
    debtor.click("form.pay-form:has(input[name=purpose][value=full]) button")
    expect(debtor.locator(".simulated-checkout h1")).to_contain_text("Pay")
    debtor.click("button[value=pay]")
    expect(debtor.locator("[role=status]")).to_contain_text("nothing is outstanding")
    assert debtor.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []
    phone.close()


def test_an_invoice_check_goes_from_placement_to_payment(
    page, browser, live_server: str, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    place_for_a_check(browser, live_server)
    case_url = confirm_with_the_debtor(page, shots)
    link = page.locator("a.debtor-link").get_attribute("href")
    assert link and "/pay/" in link
    pay_in_full_on_a_phone(browser, live_server, link)

    page.goto(case_url)
    expect(page.locator(".stage").first).to_contain_text("paid")
    section = page.locator("#check")
    expect(section).to_contain_text("paid")
    expect(section).to_contain_text("Early-intervention fee")
    expect(section.locator("form")).to_have_count(0)
    section.screenshot(path=str(shots / "check-section-paid.png"))
    assert page.console_errors == []
