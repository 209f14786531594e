"""The API's schema browser (/api/docs/) in a real browser: Swagger UI from the portal's own static
files, under the portal's Content-Security-Policy, and a call tried from it with a token."""

import pytest
from playwright.sync_api import expect

from portal.accounts.api_tokens import personal_token_create
from tests.e2e.test_csp import Watched
from tests.support.browser import Screenshots

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]


def test_the_api_docs_load_from_the_portal_alone_and_try_a_call_with_a_token(browser, live_server, recruiter):
    secret = personal_token_create(user=recruiter, name="docs").secret
    watched = Watched(browser, live_server.url)
    requested: list[str] = []
    watched.page.on("request", lambda request: requested.append(request.url))

    watched.visit("API docs", "/api/docs/")
    page = watched.page
    expect(page.get_by_text("Assessment Portal API").first).to_be_visible()
    page.get_by_role("button", name="Authorize").first.click()
    page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(secret)
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    operation = page.locator(".opblock", has=page.locator('[data-path="/api/v1/me"]'))
    operation.locator(".opblock-summary").first.click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    expect(operation.locator(".live-responses-table")).to_contain_text('"kind": "personal"')
    Screenshots("api-docs").take(page, "tried")
    watched.collect("API docs")

    assert watched.problems == []
    outside = [url for url in requested if not url.startswith((live_server.url, "data:"))]
    assert outside == [], "the docs page fetched from outside the portal"
