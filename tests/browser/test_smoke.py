"""Each kind of user signs in and sees their home page, in a real browser."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from portal.services import demo

pytestmark = pytest.mark.browser

HOMES = {
    "agency_admin": "Due for action today",
    "collector": "Due for action today",
    "legal": "Due for action today",
    "creditor_admin": "Your portfolio",
    "creditor_user": "Your portfolio",
}


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", demo.DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("login", demo.logins(), ids=lambda login: login.email)
def test_each_role_signs_in_and_sees_its_home(page, login) -> None:
    sign_in(page, login.email)
    assert page.locator("h1").first.inner_text() == HOMES[login.role.value]
    assert page.locator("table.cases tbody tr").count() > 0
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    assert page.console_errors == []  # a CSP violation would show here


def test_wrong_password_stays_on_the_form(page) -> None:
    page.goto("/login")
    page.fill("input[name=email]", "finance@acme.example")
    page.fill("input[name=password]", "wrong password entirely")
    page.click("button[type=submit]")
    assert "do not match an active account" in page.content()


def test_search_swaps_the_list_through_htmx(page) -> None:
    sign_in(page, "finance@acme.example")
    page.evaluate("window.sameDocument = true")
    rows = page.locator("table.cases tbody tr a")
    names = rows.all_inner_texts()
    wanted = names[-1]
    page.fill("input[name=q]", wanted)
    expect(rows).to_have_count(names.count(wanted))  # waits for htmx to swap the list
    expect(rows.first).to_have_text(wanted)
    assert set(rows.all_inner_texts()) == {wanted}
    assert page.evaluate("window.sameDocument") is True  # swapped in place, no page load
    assert "q=" in page.url  # the address bar keeps the search, so it can be shared
    assert page.console_errors == []


def test_keyboard_opens_a_case_from_the_queue(page) -> None:
    sign_in(page, "carla@agency.example")
    page.keyboard.press("j")
    selected = page.locator("table.cases tbody tr.selected a").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url("**/agency/cases/**")
    assert page.locator("h1").first.inner_text() == selected
    assert page.locator(".timeline").count() == 1


def test_creditor_home_fits_a_phone(browser, live_server) -> None:
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, "credit@brightline.example")
    assert page.locator("h1").first.inner_text() == "Your portfolio"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    context.close()


def test_creditor_places_an_account_with_a_document(page, tmp_path) -> None:
    sign_in(page, "finance@brightline.example")
    page.click("text=Place an account")
    page.fill("#creditor_reference", "BRI-BROWSER-1")
    page.fill("#debtor_name", "Lindqvist Haulage")
    page.fill("#email", "ap@lindqvist.example")
    page.fill("#invoices-0-number", "INV-B-1")
    page.fill("#invoices-0-issue_date", "2026-05-01")
    page.fill("#invoices-0-due_date", "2026-05-31")
    page.fill("#invoices-0-amount", "1,999.99")
    # The quote follows the form as it is filled in (one request per change, maybe queued
    # behind the one before): wait for it to show this amount, however many went first.
    expect(page.locator("#quote table.money")).to_contain_text("£1,999.99", timeout=30_000)
    page.check("text=Not returning calls or e-mails")
    page.click("button[name=place]")
    page.wait_for_url("**/creditor/cases/**")
    assert "Placed. The agency reference is" in page.content()
    assert page.locator("h1").first.inner_text() == "Lindqvist Haulage"

    invoice = tmp_path / "INV-B-1.pdf"
    invoice.write_bytes(
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    page.set_input_files("#documents input[type=file]", str(invoice))
    page.click("#documents button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#documents a", has_text="INV-B-1.pdf").count() == 1
    assert page.console_errors == []


def test_creditor_imports_a_csv_and_places_the_good_rows(page, tmp_path) -> None:
    export = tmp_path / "overdue.csv"
    export.write_text(
        "creditor_reference;debtor_name;invoice_number;issue_date;due_date;amount\n"
        "CSV-B-1;Orion Climbing Hall;R-1;01.03.2026;31.03.2026;1.234,56\n"
        "CSV-B-1;Orion Climbing Hall;R-2;01.04.2026;30.04.2026;99,00\n"
        "CSV-B-2;Juniper Events;R-3;01.04.2026;30.04.2099;10,00\n",
        encoding="utf-8-sig",
    )
    sign_in(page, "credit@acme.example")
    page.click("text=Import CSV")
    page.set_input_files("#file", str(export))
    page.click("button[data-upload]")
    place = page.locator("form.confirm-import button")
    expect(place).to_have_text("Place 1 case", timeout=15_000)  # checked in the background
    assert "Line" in page.locator("table.row-errors").inner_text()
    assert "future" in page.locator("table.row-errors").inner_text()
    place.click()
    expect(page.locator(".flash-success")).to_contain_text("1 case placed", timeout=15_000)
    page.goto("/creditor/?q=Orion+Climbing")
    assert page.locator("table.cases tbody tr").count() == 1
    assert "€1,333.56" in page.locator("table.cases").inner_text()
    assert page.console_errors == []


def open_section(page, inner: str) -> None:
    """Unfold the <details> holding ``inner`` (some start open, clicking would close them)."""
    details = page.locator(f"details:has({inner})").first
    if details.get_attribute("open") is None:
        details.locator("summary").first.click()


def test_collector_walks_a_case_from_call_to_approved_settlement(page, live_portal) -> None:
    sign_in(page, "carla@agency.example")
    page.goto("/agency/?due=all&stage=amicable.negotiation")
    row = page.locator("table.cases tbody tr", has_text="Acme Industrial").first
    case_url = row.locator("a[data-row-link]").get_attribute("href")
    page.goto(case_url)

    open_section(page, "#call-outcome")
    page.select_option("#call-outcome", "spoke")
    page.fill("#call-notes", "Spoke to accounts payable: will pay 100 today.")
    page.click("button:has-text('Log the call')")
    expect(page.locator(".timeline")).to_contain_text("will pay 100 today")

    today = datetime.now(UTC).date()
    page.fill("#promise-amount", "100.00")
    page.fill("#promise-due_on", today.isoformat())
    page.click("button:has-text('Record the promise')")
    expect(page.locator("#promises .status")).to_have_text("open")
    live_portal.flask("collections", "run-due", "--date", (today + timedelta(days=1)).isoformat())
    page.reload()
    expect(page.locator("#promises .status")).to_have_text("broken")

    open_section(page, "#dispute-reason")
    page.select_option("#dispute-raised_by", "debtor")
    page.fill("#dispute-reason", "The last delivery arrived damaged.")
    page.click("button:has-text('Record the dispute')")
    expect(page.locator(".case-title .stage")).to_contain_text("On hold")
    open_section(page, "#resolve-comment")
    page.select_option("#resolve-resolution", "reject")
    page.fill("#resolve-comment", "The delivery note was signed without remarks.")
    page.click("button:has-text('Record the decision')")
    expect(page.locator(".case-title .stage")).to_contain_text("Negotiation")

    owed = page.locator("table.money tfoot td").first.inner_text()
    half = Decimal(owed.strip("€£").replace(",", "")) / 2
    page.fill("#settlement-amount", f"{half:.2f}")
    page.fill("#settlement-note", "Half now, the rest written off.")
    page.click("button:has-text('Propose the settlement')")
    expect(page.locator("#settlements")).to_contain_text("creditor")
    page.click("text=Sign out")

    sign_in(page, "finance@acme.example")
    page.goto(case_url.replace("/agency/", "/creditor/"))
    page.fill("#decision-comment", "Agreed: better half now than a long fight.")
    page.click("button:has-text('Approve the settlement')")
    expect(page.locator(".timeline")).to_contain_text("pprove")
    assert page.console_errors == []
