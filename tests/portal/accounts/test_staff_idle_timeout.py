"""Staff sessions end after PORTAL_STAFF_IDLE_MINUTES without a request; other sessions keep their length."""

import pytest
from django.urls import reverse

from portal.accounts.middleware import LAST_SEEN_KEY

STATUS_PAGE = reverse("system_status")
DASHBOARD = reverse("recruiter_dashboard")


@pytest.fixture(autouse=True)
def idle_minutes(settings):
    settings.PORTAL_STAFF_IDLE_MINUTES = 30
    return 30


def _idle_for(client, minutes: float) -> None:
    """Moves the session's last request back, as if nothing had come for that long."""
    session = client.session
    session[LAST_SEEN_KEY] -= minutes * 60
    session.save()


def test_a_staff_session_idle_past_the_limit_is_signed_out_and_told_why(client, admin_user):
    client.force_login(admin_user)
    assert client.get(STATUS_PAGE).status_code == 200
    _idle_for(client, 31)
    response = client.get(STATUS_PAGE)
    assert response.url == f"{reverse('login')}?next=%2Fstatus%2F"
    assert "_auth_user_id" not in client.session
    login = client.get(response.url)
    assert b"You were signed out after 30 minutes without activity. Sign in again." in login.content
    assert client.get(STATUS_PAGE).url.startswith(reverse("login"))


def test_a_staff_session_used_within_the_limit_goes_on_and_starts_the_count_again(client, admin_user):
    client.force_login(admin_user)
    client.get(STATUS_PAGE)
    _idle_for(client, 29)
    assert client.get(STATUS_PAGE).status_code == 200
    _idle_for(client, 29)
    assert client.get(STATUS_PAGE).status_code == 200


def test_the_staff_session_itself_expires_after_the_limit(client, admin_user, settings):
    settings.PORTAL_STAFF_IDLE_MINUTES = 5
    client.force_login(admin_user)
    client.get(STATUS_PAGE)
    assert client.session.get_expiry_age() == 5 * 60
    _idle_for(client, 6)
    assert client.get(STATUS_PAGE).status_code == 302


def test_an_idle_htmx_request_is_told_to_go_to_the_login_page(client, admin_user):
    client.force_login(admin_user)
    client.get(STATUS_PAGE)
    _idle_for(client, 31)
    polled = client.get(STATUS_PAGE, headers={"HX-Request": "true"})
    assert (polled.status_code, polled["HX-Redirect"]) == (204, reverse("login"))


def test_a_recruiter_keeps_the_ordinary_session_length(client, recruiter, settings):
    client.force_login(recruiter)
    assert client.get(DASHBOARD).status_code == 200
    assert LAST_SEEN_KEY not in client.session
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
