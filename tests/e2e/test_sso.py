"""Single sign-on in a real browser: the portal's button, the provider's form (a real OpenID Connect
provider on loopback), and back on the portal signed in, on the start page of the person's role."""

import pytest
from playwright.sync_api import expect

from portal.accounts.models import SsoIdentity
from tests.support.browser import PHONE, Screenshots, assert_accessible, overflow
from tests.support.oidc_provider import PASSWORD, running_provider

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def provider(live_server, tmp_path_factory):
    with running_provider(folder=tmp_path_factory.mktemp("oidc-provider"), portal_url=live_server.url) as provider:
        yield provider


@pytest.fixture
def sso(settings, live_server, provider, db):
    settings.PORTAL_BASE_URL = live_server.url
    provider.configure(settings)
    return provider


def _fits_and_passes_axe(page) -> None:
    assert overflow(page) == 0, page.url
    assert_accessible(page)


def _sign_in_at_the_provider(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    page.get_by_label("Provider username").fill(username)
    page.get_by_label("Provider password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()


def test_a_recruiter_signs_in_with_the_identity_provider_and_lands_on_the_dashboard(page, live_server, sso):
    shots = Screenshots("sso")
    sso.user("carol", sub="idp-carol", email="carol@corp.example", email_verified=True, groups=["hiring"])
    page.goto(f"{live_server.url}/accounts/login/")
    page.set_viewport_size(PHONE)
    expect(page.get_by_role("button", name="Sign in with Test IdP")).to_be_in_viewport(ratio=1)
    _fits_and_passes_axe(page)
    shots.take(page, "login")

    _sign_in_at_the_provider(page, live_server, "carol")
    expect(page).to_have_url(f"{live_server.url}/recruiter/")
    expect(page.get_by_role("heading", name="Candidates", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_text("carol", exact=True)).to_be_visible()
    shots.take(page, "signed-in")
    assert SsoIdentity.objects.get(subject="idp-carol").user.username == "carol"
    assert shots.saved() == 4


def test_a_reviewer_lands_on_the_review_queue_and_a_person_without_a_role_sees_why_not(page, live_server, sso):
    shots = Screenshots("sso-refused")
    sso.user("vera", sub="idp-vera", email="vera@corp.example", email_verified=True, groups=["interviewers"])
    sso.user("finn", sub="idp-finn", email="finn@corp.example", email_verified=True, groups=["finance"])
    _sign_in_at_the_provider(page, live_server, "vera")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()

    page.context.clear_cookies()
    _sign_in_at_the_provider(page, live_server, "finn")
    expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("no role in this portal")
    page.set_viewport_size(PHONE)
    _fits_and_passes_axe(page)
    shots.take(page, "refused")
