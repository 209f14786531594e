"""A staff user's first sign-in, through enrolment of an authenticator app, on a phone, in a real browser."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.support.browser import PHONE, Screenshots, assert_accessible, overflow
from tests.support.second_factor import current_code

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]


def _fits_and_passes_axe(page) -> None:
    assert overflow(page) == 0, page.url
    assert_accessible(page)


def test_a_staff_user_enrols_an_authenticator_app_at_the_first_sign_in_on_a_phone(page, live_server, admin_user):
    shots = Screenshots("second-factor")
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/status/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/second-factor/enrol/\?next=%2Fstatus%2F$"))
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Status")).to_have_count(0)
    expect(page.locator(".enrol-qr svg")).to_be_visible()
    page.set_viewport_size(PHONE)
    _fits_and_passes_axe(page)
    shots.take(page, "enrol")
    page.set_viewport_size(PHONE)

    device = TOTPDevice.objects.get(user=admin_user, confirmed=False)
    wrong = f"{(int(current_code(device)) + 500_000) % 1_000_000:06d}"
    page.get_by_label("Code from your authenticator app").fill(wrong)
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right.")
    _fits_and_passes_axe(page)
    shots.take(page, "enrol-wrong-code")
    page.set_viewport_size(PHONE)

    # Past django-otp's wait after a wrong code (moved back rather than slept).
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None, throttling_failure_count=0)
    page.get_by_label("Code from your authenticator app").fill(current_code(device))
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page).to_have_url(f"{live_server.url}/status/")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Status")).to_be_visible()

    # The next sign-in asks for the code only.
    page.get_by_text("ada", exact=True).click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    _fits_and_passes_axe(page)
    shots.take(page, "code")
    assert shots.saved() == 6
