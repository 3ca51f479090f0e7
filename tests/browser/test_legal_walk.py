"""The legal stage in a real browser: the legal team proposes action with a lawyer, the
creditor approves it, the judgment is recorded, enforcement brings a payment, and the
lawyer's bundle downloads with its summary PDF and documents."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests import document_samples
from tests.browser.test_smoke import open_section, sign_in

pytestmark = pytest.mark.browser
CREDITORS = {"Acme": "finance@acme.example", "Brightline": "finance@brightline.example"}


def test_legal_action_from_proposal_to_enforcement_and_the_bundle(page, tmp_path: Path) -> None:
    today = datetime.now(UTC).date().isoformat()
    sign_in(page, "lena@agency.example")
    page.goto("/agency/?due=all&stage=amicable.demand")
    case_url = page.locator("table.cases tbody tr a[data-row-link]").nth(2).get_attribute("href")
    page.goto(case_url)
    reference = page.locator("nav[aria-label=breadcrumb] li").last.inner_text().strip()
    creditor = next(email for name, email in CREDITORS.items() if name in page.content())

    open_section(page, "#propose-lawyer")
    page.select_option("#propose-lawyer", index=1)
    page.fill("#propose-court_fees", "450.00")
    page.fill("#propose-lawyer_fees", "800.00")
    page.fill("#propose-advance", "450.00")
    page.fill("#propose-note", "Three letters and two calls unanswered.")
    page.click("button:has-text('Ask the creditor')")
    expect(page.locator(".case-title .stage")).to_contain_text("Legal review")
    page.click("text=Sign out")

    sign_in(page, creditor)
    page.goto(case_url.replace("/agency/", "/creditor/"))
    expect(page.locator("#decisions")).to_contain_text("Legal action with")
    page.fill("#legal-comment", "Approved: the claim is undisputed.")
    page.click("button:has-text('Approve legal action')")
    expect(page.locator(".timeline")).to_contain_text("Creditor approved legal action")
    page.click("text=Sign out")

    sign_in(page, "lena@agency.example")
    page.goto(case_url)
    expect(page.locator(".case-title .stage")).to_contain_text("Litigation")
    open_section(page, "#court-court")
    page.fill("#court-court", "Amtsgericht Berlin-Mitte")
    page.fill("#court-case_number", "12 C 345/26")
    page.fill("#court-filed_on", today)
    page.click("button:has-text('Save the court file')")
    expect(page.locator("#legal")).to_contain_text("12 C 345/26")

    owed = page.locator("table.money tfoot td").first.inner_text()
    open_section(page, "#judgment-principal")
    page.fill("#judgment-judgment_date", today)
    page.fill("#judgment-principal", owed.strip("€£").replace(",", ""))
    page.fill("#judgment-interest", "0")
    page.fill("#judgment-costs", "300.00")
    title = tmp_path / "enforceable-title.pdf"
    title.write_bytes(document_samples.pdf())
    page.set_input_files("#judgment-title", str(title))
    page.click("button:has-text('Record the judgment')")
    expect(page.locator(".case-title .stage")).to_contain_text("Judgment")

    open_section(page, "#action-kind")
    page.select_option("#action-kind", "garnishment")
    page.fill("#action-note", "Garnishment of the debtor's bank account.")
    page.click("#legal button:has-text('Start')")
    expect(page.locator(".case-title .stage")).to_contain_text("Enforcement")
    open_section(page, "#proceeds-amount")
    page.fill("#proceeds-amount", "100.00")
    page.fill("#proceeds-received_on", today)
    page.fill("#proceeds-reference", "GARN-1")
    page.click("button:has-text('Book the proceeds')")
    expect(page.locator(".timeline")).to_contain_text("Enforcement proceeds: ")

    with page.expect_download() as download:
        page.click("text=Download the case bundle (ZIP)")
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        summary = archive.read(f"{reference}-summary.pdf")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(summary)).pages)
    assert reference in text and "12 C 345/26" in text and "Judgment" in text
    kept = [name for name in names if name.endswith("-enforceable-title.pdf")]
    assert kept and archive_bytes(bundle, kept[0]) == title.read_bytes()
    assert page.console_errors == []


def archive_bytes(bundle: Path, name: str) -> bytes:
    with zipfile.ZipFile(bundle) as archive:
        return archive.read(name)
