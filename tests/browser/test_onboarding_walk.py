"""An agency admin signs a new client up, end to end in a real browser: creates the
client, sets its commission, invites its first admin, who accepts the invitation, signs
in and invites a colleague."""

from __future__ import annotations

import re
import sqlite3
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from portal.services import demo

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a long and new passphrase 2026"


def sign_in(page, email: str, password: str = demo.DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def invitation_link(live_portal, recipient: str) -> str:
    """The link in the newest e-mail to ``recipient`` in the outbox (the mail default)."""
    database = live_portal.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        (body,) = connection.execute(
            "SELECT body_text FROM outbox_messages WHERE recipient = ? ORDER BY id DESC LIMIT 1",
            (recipient,),
        ).fetchone()
    found = re.search(r"https?://\S+/invitations/\S+", body)
    assert found, body
    return found.group(0)


def test_admin_onboards_a_client_whose_admin_invites_a_colleague(page, live_portal) -> None:
    sign_in(page, "admin@agency.example")
    page.click("nav >> text=Clients")
    page.click("text=New client")
    page.fill("input[name=name]", "Nordwind Logistik GmbH")
    page.fill("input[name=slug]", "nordwind")
    page.fill("input[name=currency]", "EUR")
    page.click("button:has-text('Add the client')")
    expect(page.locator("h1")).to_contain_text("Nordwind Logistik GmbH")

    page.click("a:has-text('Terms')")
    commission = page.locator("article#commission")
    commission.locator("summary").click()
    commission.locator("input[name=commission-amicable_rate]").fill("12.5")
    commission.locator("button[type=submit]").click()
    expect(page.locator("article#commission ul")).to_contain_text("12.50 %")

    page.goto(page.url.replace("/terms", "/users"))
    page.fill("input[name=email]", "anna.berg@nordwind.example")
    page.fill("input[name=name]", "Anna Berg")
    page.select_option("select[name=role]", "creditor_admin")
    page.click("button:has-text('Send the invitation')")
    expect(page.locator("body")).to_contain_text("anna.berg@nordwind.example")
    page.click("text=Sign out")

    # The link names the portal's public address; this portal listens on its own port.
    page.goto(urlsplit(invitation_link(live_portal, "anna.berg@nordwind.example")).path)
    expect(page.locator("body")).to_contain_text("Nordwind Logistik GmbH")
    page.fill("input[name=password]", NEW_PASSWORD)
    page.fill("input[name=password_again]", NEW_PASSWORD)
    page.click("button:has-text('Create my account')")
    expect(page.locator("h1").first).to_have_text("Your portfolio")
    page.click("text=Sign out")

    sign_in(page, "anna.berg@nordwind.example", NEW_PASSWORD)
    page.click("nav >> text=Users")
    page.fill("input[name=email]", "jonas.kern@nordwind.example")
    page.fill("input[name=name]", "Jonas Kern")
    page.select_option("select[name=role]", "creditor_user")
    page.click("button:has-text('Send the invitation')")
    expect(page.locator("body")).to_contain_text("jonas.kern@nordwind.example")
    assert "/invitations/" in invitation_link(live_portal, "jonas.kern@nordwind.example")
    assert page.console_errors == []
