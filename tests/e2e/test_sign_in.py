"""Signing in and finding one's way, in a real browser at laptop and phone widths."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]


def _sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_recruiter_signs_in_and_sees_the_empty_dashboard(page, live_server, recruiter):
    _sign_in(page, live_server, "rita")
    expect(page.get_by_role("heading", name="Candidates", exact=True)).to_be_visible()
    expect(page.get_by_text("No candidates yet")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Candidates")).to_be_visible()
    expect(nav.get_by_role("link", name="Reviews")).to_have_count(0)


def test_a_wrong_password_shows_an_error_in_the_form(page, live_server, recruiter):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page.get_by_label("Username")).to_have_value("rita")


def test_signing_out_from_the_menu_returns_to_the_login_page(page, live_server, reviewer):
    _sign_in(page, live_server, "victor")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    page.get_by_text("victor", exact=True).click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")


def test_the_dashboard_fits_a_phone_screen(browser, live_server, recruiter_and_reviewer):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        _sign_in(page, live_server, "bea")
        expect(page.get_by_text("No candidates yet")).to_be_visible()
        page_width = page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= 375, f"the page scrolls sideways ({page_width}px wide)"
        nav = page.get_by_role("navigation", name="Main")
        for name in ("Candidates", "Reviews"):
            expect(nav.get_by_role("link", name=name)).to_be_in_viewport(ratio=1)
        nav.get_by_text("bea", exact=True).click()
        expect(nav.get_by_role("link", name="Change password")).to_be_in_viewport(ratio=1)
        expect(nav.get_by_role("button", name="Sign out")).to_be_in_viewport(ratio=1)
    finally:
        context.close()


def test_static_assets_are_served_locally(page, live_server, recruiter):
    hosts = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    _sign_in(page, live_server, "rita")
    expect(page.get_by_text("No candidates yet")).to_be_visible()
    page.wait_for_load_state("load")  # htmx is deferred: it runs after the page's text is visible
    assert hosts == {live_server.url.split("/")[2]}
    assert page.evaluate("typeof window.htmx") == "object"
