"""The second factor of staff accounts: enrolment, codes, throttling, and every staff page behind it."""

import re
from base64 import b32encode
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD
from tests.support.second_factor import confirmed_device, current_code, fresh_code

LOGIN = reverse("login")
CODE_PAGE = reverse("second_factor")
ENROL_PAGE = reverse("second_factor_enrol")
STATUS_PAGE = reverse("system_status")
STAFF_PAGES = [
    reverse("home"),
    reverse("recruiter_dashboard"),
    reverse("review_queue"),
    STATUS_PAGE,
    reverse("password_change"),
    "/admin/",
    "/admin/accounts/user/",
    "/admin/otp_totp/totpdevice/",
]


def _password(client, username: str, next_url: str = "", login: str = LOGIN):
    """Signs in with the password alone, as the login form does."""
    response = client.post(login, {"username": username, "password": PASSWORD, "next": next_url})
    assert response.status_code == 302, response.content
    return response


def _enrolment_device(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=False)


def test_the_first_sign_in_of_staff_leads_through_enrolment_to_the_page_asked_for(client, admin_user):
    _password(client, "ada", STATUS_PAGE)
    enrol = client.get(STATUS_PAGE, follow=True)
    assert enrol.redirect_chain[-1][0] == f"{ENROL_PAGE}?next=%2Fstatus%2F"
    device = _enrolment_device(admin_user)
    page = enrol.content.decode()
    assert "Set up your second factor" in page
    assert '<svg width="' in page and "QR code for your authenticator app" in page
    secret = b32encode(device.bin_key).decode()
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in page
    # Reloading shows the same secret: the app scanned on the first visit still works.
    assert client.get(ENROL_PAGE).context["secret"] == enrol.context["secret"]

    done = client.post(enrol.redirect_chain[-1][0], {"code": current_code(device), "next": STATUS_PAGE})
    assert done.url == STATUS_PAGE
    assert client.get(STATUS_PAGE).status_code == 200
    device.refresh_from_db()
    assert device.confirmed


def test_after_enrolment_a_sign_in_asks_for_the_code_and_enrolment_is_closed(client, admin_user):
    device = confirmed_device(admin_user)
    _password(client, "ada")
    ask = client.get(reverse("home"), follow=True)
    assert ask.redirect_chain == [(f"{CODE_PAGE}?next=%2F", 302)]
    assert b"Enter your code" in ask.content
    # With the password alone, no new authenticator app can replace the one set up.
    assert client.get(ENROL_PAGE).url == f"{CODE_PAGE}?next=%2F"
    assert not TOTPDevice.objects.filter(user=admin_user, confirmed=False).exists()
    response = client.post(CODE_PAGE, {"code": current_code(device), "next": STATUS_PAGE})
    assert response.url == STATUS_PAGE
    assert client.get(STATUS_PAGE).status_code == 200


def test_a_wrong_code_is_refused_with_a_clear_error_and_the_session_stays_unverified(client, admin_user):
    device = confirmed_device(admin_user)
    _password(client, "ada")
    wrong = f"{(int(current_code(device)) + 500_000) % 1_000_000:06d}"
    response = client.post(CODE_PAGE, {"code": wrong})
    assert response.status_code == 400
    assert "That code is not right." in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert client.get(STATUS_PAGE).url == f"{CODE_PAGE}?next=%2Fstatus%2F"


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12ab56", "+12345", "١٢٣٤٥٦"])
def test_a_code_that_is_not_six_digits_is_refused_and_counts_no_failure(client, admin_user, code):
    device = confirmed_device(admin_user)
    _password(client, "ada")
    response = client.post(CODE_PAGE, {"code": code})
    assert response.status_code == 400
    assert "Enter the 6-digit code your authenticator app shows now." in response.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_wrong_codes_are_throttled_even_the_right_code_waits(client, admin_user):
    device = confirmed_device(admin_user)
    _password(client, "ada")
    wrong = f"{(int(current_code(device)) + 500_000) % 1_000_000:06d}"
    for _ in range(3):
        # Each try after the wait of the one before (moved back rather than slept): each counts.
        TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - timedelta(hours=1))
        assert client.post(CODE_PAGE, {"code": wrong}).status_code == 400
    held = client.post(CODE_PAGE, {"code": current_code(device)})
    assert held.status_code == 429
    assert re.search(r"Too many wrong codes in a row: wait [1-4] seconds?, then try again\.", held.content.decode())
    device.refresh_from_db()
    assert device.throttling_failure_count == 3
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - timedelta(seconds=5))
    assert client.post(CODE_PAGE, {"code": current_code(device)}).url == reverse("home")


def test_a_code_is_accepted_once(client, admin_user):
    device = confirmed_device(admin_user)
    code = fresh_code(device)
    _password(client, "ada")
    assert client.post(CODE_PAGE, {"code": code}).status_code == 302
    client.post(reverse("logout"))
    _password(client, "ada")
    replay = client.post(CODE_PAGE, {"code": code})
    assert replay.status_code == 400
    assert b"That code is not right." in replay.content


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_an_unverified_staff_session_is_sent_to_the_code_page_from_every_page(client, admin_user, url):
    confirmed_device(admin_user)
    _password(client, "ada")
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(f"{CODE_PAGE}?next=")


def test_an_unverified_staff_session_can_post_nothing_and_htmx_is_told_to_go_to_the_code_page(
    client, admin_user, recruiter
):
    confirmed_device(admin_user)
    _password(client, "ada")
    changed = client.post(f"/admin/accounts/user/{recruiter.pk}/change/", {"username": "mallory"})
    assert changed.url == CODE_PAGE
    recruiter.refresh_from_db()
    assert recruiter.username == "rita"
    polled = client.get(STATUS_PAGE, headers={"HX-Request": "true"})
    assert (polled.status_code, polled["HX-Redirect"]) == (204, CODE_PAGE)


def test_the_admin_login_needs_the_code_too(client, admin_user):
    confirmed_device(admin_user)
    _password(client, "ada", "/admin/", login="/admin/login/")
    assert client.get("/admin/").url == f"{CODE_PAGE}?next=%2Fadmin%2F"


def test_sign_out_is_open_before_the_code(client, admin_user):
    confirmed_device(admin_user)
    _password(client, "ada")
    assert client.post(reverse("logout")).url == LOGIN
    assert "_auth_user_id" not in client.session


def test_the_code_page_goes_on_only_to_pages_of_the_portal(client, admin_user):
    device = confirmed_device(admin_user)
    _password(client, "ada")
    response = client.post(CODE_PAGE, {"code": current_code(device), "next": "https://attacker.example/"})
    assert response.url == reverse("home")


def test_recruiters_and_reviewers_who_are_not_staff_are_unaffected(client, recruiter, reviewer):
    _password(client, "rita")
    assert client.get(reverse("recruiter_dashboard")).status_code == 200
    assert client.get(CODE_PAGE).url == reverse("home")
    assert client.get(ENROL_PAGE).url == reverse("home")
    client.post(reverse("logout"))
    _password(client, "victor")
    assert client.get(reverse("review_queue")).status_code == 200
    assert not TOTPDevice.objects.exists()


def test_with_everyone_chosen_recruiters_need_the_second_factor_too(client, recruiter, settings):
    settings.PORTAL_2FA_FOR = "everyone"
    _password(client, "rita")
    enrol = client.get(reverse("recruiter_dashboard"), follow=True)
    assert enrol.redirect_chain[-1][0] == f"{ENROL_PAGE}?next=%2Frecruiter%2F"
    device = _enrolment_device(recruiter)
    assert client.post(ENROL_PAGE, {"code": current_code(device)}).status_code == 302
    assert client.get(reverse("recruiter_dashboard")).status_code == 200


def test_a_wrong_code_at_enrolment_is_refused_and_sets_nothing_up(client, admin_user):
    _password(client, "ada")
    client.get(ENROL_PAGE)
    device = _enrolment_device(admin_user)
    wrong = f"{(int(current_code(device)) + 500_000) % 1_000_000:06d}"
    response = client.post(ENROL_PAGE, {"code": wrong})
    assert response.status_code == 400
    assert b"That code is not right." in response.content
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get(STATUS_PAGE).status_code == 302


def test_the_session_gets_a_new_key_once_the_code_is_passed(client, admin_user):
    device = confirmed_device(admin_user)
    _password(client, "ada")
    before = client.session.session_key
    client.post(CODE_PAGE, {"code": current_code(device)})
    assert client.session.session_key != before
    assert client.get(STATUS_PAGE).status_code == 200
