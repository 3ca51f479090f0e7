"""The creditor's dashboard in Chromium: the chart is drawn, its bars open the cases behind
them, and the page fits a phone."""

import pytest

from portal.services import demo

pytestmark = pytest.mark.browser


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", demo.DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def bar_heights(page) -> list[float]:
    return page.eval_on_selector_all(
        "#months svg.chart-svg .chart-bar rect",
        "rects => rects.map(rect => rect.getBoundingClientRect().height)",
    )


def test_collected_per_month_has_bars(page) -> None:
    sign_in(page, "finance@acme.example")
    page.goto("/creditor/dashboard")
    assert page.locator("h1").first.inner_text() == "Your portfolio at a glance"
    heights = bar_heights(page)
    assert len(heights) == 12  # a bar per month, the empty ones too
    assert any(height > 5 for height in heights)  # the demo's payments were drawn
    assert page.console_errors == []  # a CSP violation would show here


def test_a_bar_opens_the_cases_paid_that_month(page) -> None:
    sign_in(page, "finance@acme.example")
    page.goto("/creditor/dashboard")
    tallest = max(range(12), key=lambda index: bar_heights(page)[index])
    page.locator("#months svg.chart-svg a").nth(tallest).click()
    page.wait_for_url("**/creditor/?*paid_from=*")
    assert page.locator("table.cases tbody tr").count() > 0


def test_dashboard_fits_a_phone(browser, live_server) -> None:
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, "credit@acme.example")
    for path in ("/creditor/dashboard", "/creditor/unpaid"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, path
    page.goto("/creditor/dashboard")
    assert len(bar_heights(page)) == 12
    context.close()
