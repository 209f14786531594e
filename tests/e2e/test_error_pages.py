"""The portal's 404 page in a real browser: on a phone, with DEBUG on as under `make run`; the favicon;
a focus ring where the keyboard is."""

import pytest
from playwright.sync_api import expect

from tests.support.browser import PHONE, Screenshots, assert_accessible, overflow, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]


def test_an_unknown_address_shows_the_portals_404_page_on_a_phone(page, live_server, settings, recruiter):
    settings.DEBUG = True  # `make run`'s default: still the portal's page, not Django's
    shots = Screenshots("error-pages")
    page.goto(f"{live_server.url}/no-such-page/")
    page.set_viewport_size(PHONE)
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("Using the URLconf")).to_have_count(0)
    assert overflow(page) == 0
    assert_accessible(page)
    shots.take(page, "404-signed-out")

    sign_in(page, live_server.url, "rita")
    page.goto(f"{live_server.url}/no-such-page/")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Candidates")).to_be_visible()
    page.set_viewport_size(PHONE)
    assert overflow(page) == 0
    assert_accessible(page)
    shots.take(page, "404-signed-in")


def test_the_favicon_loads(page, live_server, db):
    page.goto(f"{live_server.url}/accounts/login/")
    href = page.locator('link[rel="icon"]').get_attribute("href")
    icon = page.request.get(f"{live_server.url}{href}")
    assert icon.status == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert page.request.get(f"{live_server.url}/favicon.ico").url.endswith("/static/portal/favicon.svg")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_keyboard_focus_is_drawn_as_a_solid_ring(page, live_server, db, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").focus()  # the login page's first field
    page.keyboard.press("Tab")
    assert _focus_ring(page) == ["INPUT", "solid", "3px", RING[scheme]]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")  # back past the username to the brand link
    assert _focus_ring(page) == ["A", "solid", "3px", RING[scheme]]


RING = {"light": "rgb(1, 114, 173)", "dark": "rgb(122, 184, 255)"}


def _focus_ring(page) -> list[str]:
    return page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth, s.outlineColor]; }"
    )


@pytest.mark.urls("tests.portal.web.test_error_pages")  # the portal's URLs, plus views that fail on purpose
@pytest.mark.parametrize(
    ("path", "heading"), [("crash", "Something went wrong on our side"), ("forbidden", "Not allowed")]
)
def test_the_500_and_403_pages_fit_a_phone_and_pass_axe(page, live_server, settings, path, heading):
    settings.DEBUG = True
    page.set_viewport_size(PHONE)
    response = page.goto(f"{live_server.url}/test-errors/{path}/")
    assert response.status == {"crash": 500, "forbidden": 403}[path]
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    assert overflow(page) == 0
    assert_accessible(page)
    Screenshots(f"error-pages-{path}").take(page, path)
