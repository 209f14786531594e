"""Staff sign-in throttling (django-axes) and the password reset limit, through the real views.

Failures count per username and client address together: a guesser locks out only their own
pair, never the user everywhere. Time is moved by ageing the stored rows.
"""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db.models import F
from django.urls import reverse

from portal.accounts.models import PasswordResetRequest
from tests.conftest import PASSWORD

pytestmark = pytest.mark.engines

LOGIN = reverse("login")
ADMIN_LOGIN = reverse("admin:login")
RESET_PAGE = reverse("password_reset")
SENT_PAGE = reverse("password_reset_done")
GUESSER = {"REMOTE_ADDR": "198.51.100.7"}
COLLEAGUE = {"REMOTE_ADDR": "203.0.113.20"}
PROXY = "10.0.0.2"


def _sign_in(client, username: str, password: str, page: str = LOGIN, **meta):
    return client.post(page, {"username": username, "password": password}, **meta)


def _guess(client, username: str, times: int, page: str = LOGIN, **meta) -> list[int]:
    return [_sign_in(client, username, f"wrong guess {n}", page, **meta).status_code for n in range(times)]


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _age_attempts(minutes: int) -> None:
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


def test_five_wrong_passwords_lock_the_pair_out_and_then_even_the_right_one_gets_429(client, recruiter):
    assert _guess(client, "rita", 4, **GUESSER) == [200] * 4
    fifth = _sign_in(client, "rita", "wrong guess 5", **GUESSER)
    sixth = _sign_in(client, "rita", "wrong guess 6", **GUESSER)
    right = _sign_in(client, "rita", PASSWORD, **GUESSER)
    assert [fifth.status_code, sixth.status_code, right.status_code] == [429, 429, 429]
    assert b"Too many failed sign-ins from here for this account" in right.content
    assert b"Try again in 15 minutes, or reset your password." in right.content
    assert f'href="{RESET_PAGE}"'.encode() in right.content
    assert right["Retry-After"] == "900"
    assert not _signed_in(client)


def test_a_failure_before_the_limit_still_shows_the_form_with_its_message(client, recruiter):
    response = _sign_in(client, "rita", "wrong", **GUESSER)
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_the_same_user_with_the_right_password_from_another_address_signs_in(client, recruiter):
    _guess(client, "rita", 6, **GUESSER)
    response = _sign_in(client, "rita", PASSWORD, **COLLEAGUE)
    assert response.status_code == 302
    assert _signed_in(client)


def test_another_user_from_the_guessing_address_is_not_locked_out(client, recruiter, reviewer):
    _guess(client, "rita", 6, **GUESSER)
    assert _sign_in(client, "victor", PASSWORD, **GUESSER).status_code == 302
    assert _signed_in(client)


def test_a_success_before_the_limit_forgets_the_earlier_failures(client, recruiter):
    _guess(client, "rita", 4, **GUESSER)
    assert _sign_in(client, "rita", PASSWORD, **GUESSER).status_code == 302
    client.logout()
    assert _guess(client, "rita", 4, **GUESSER) == [200] * 4


def test_the_lockout_ends_after_the_cool_off_and_a_try_during_it_starts_it_again(client, recruiter):
    _guess(client, "rita", 5, **GUESSER)
    _age_attempts(14)
    assert _sign_in(client, "rita", PASSWORD, **GUESSER).status_code == 429
    _age_attempts(14)  # 28 minutes since the fifth failure, but 14 since the last try
    assert _sign_in(client, "rita", PASSWORD, **GUESSER).status_code == 429
    _age_attempts(16)
    assert _sign_in(client, "rita", PASSWORD, **GUESSER).status_code == 302
    assert _signed_in(client)


def test_an_operator_can_lift_the_lockout_by_username(client, recruiter, capsys):
    _guess(client, "rita", 5, **GUESSER)
    call_command("axes_reset_username", "rita")
    assert "1 attempts removed." in capsys.readouterr().out
    assert _sign_in(client, "rita", PASSWORD, **GUESSER).status_code == 302


def test_the_admin_login_is_covered_and_shares_the_count_with_the_login_page(client, admin_user):
    assert _guess(client, "ada", 3, **GUESSER) == [200] * 3
    assert _guess(client, "ada", 1, ADMIN_LOGIN, **GUESSER) == [200]
    assert _guess(client, "ada", 1, ADMIN_LOGIN, **GUESSER) == [429]
    refused = _sign_in(client, "ada", PASSWORD, ADMIN_LOGIN, **GUESSER)
    assert refused.status_code == 429
    assert b"Too many failed sign-ins from here for this account" in refused.content
    assert _sign_in(client, "ada", PASSWORD, LOGIN, **GUESSER).status_code == 429
    assert not _signed_in(client)
    assert _sign_in(client, "ada", PASSWORD, ADMIN_LOGIN, **COLLEAGUE).status_code == 302


def test_failures_and_the_lockout_are_logged_with_the_address_but_never_the_password(client, recruiter, caplog):
    with caplog.at_level(logging.WARNING, logger="axes"):
        _guess(client, "rita", 5, **GUESSER)
    failures = [r.getMessage() for r in caplog.records if "login failure by" in r.getMessage()]
    assert len(failures) == 5
    assert all('ip_address: "198.51.100.7"' in line and 'path_info: "/accounts/login/"' in line for line in failures)
    assert any("Locking out" in r.getMessage() for r in caplog.records)
    assert "wrong guess" not in caplog.text


def test_a_sign_in_without_a_request_is_not_throttled_but_still_checks_the_password(client, recruiter):
    _guess(client, "rita", 5)
    assert not client.login(username="rita", password="wrong")
    assert client.login(username="rita", password=PASSWORD)


def test_the_logging_configuration_lets_the_warnings_through_at_any_log_level(settings):
    assert settings.LOGGING["loggers"]["axes"] == {"level": "WARNING"}
    assert "level" not in settings.LOGGING["handlers"]["console"]


def test_behind_a_trusted_proxy_the_forwarded_address_decides(client, recruiter, settings):
    settings.PORTAL_TRUSTED_PROXIES = 1
    guesser = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    _guess(client, "rita", 5, **guesser)
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["198.51.100.7"]
    # Writing another address on the left changes nothing: the proxy appended the real one.
    spoofed = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "192.0.2.1, 198.51.100.7"}
    assert _sign_in(client, "rita", PASSWORD, **spoofed).status_code == 429
    colleague = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.20"}
    assert _sign_in(client, "rita", PASSWORD, **colleague).status_code == 302


def test_without_trusted_proxies_a_forwarded_header_is_ignored(client, ask, recruiter):
    _guess(client, "rita", 5, **GUESSER, HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert _sign_in(client, "rita", PASSWORD, **GUESSER, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


# --- Password reset ---------------------------------------------------------


@pytest.fixture
def ask(client, broker):
    """Posts the reset form; a worker then sends what the request queued (the email is sent by a task)."""

    def post(email: str, **meta):
        with broker.commit():
            response = client.post(RESET_PAGE, {"email": email}, **meta)
        broker.run()
        return response

    return post


def test_the_sixth_reset_request_in_an_hour_sends_nothing_and_shows_the_same_page(client, ask, recruiter, mailoutbox):
    responses = [ask("rita@example.com", **GUESSER) for _ in range(6)]
    assert [(r.status_code, r.url) for r in responses] == [(302, SENT_PAGE)] * 6
    assert len(mailoutbox) == 5
    sent_page = ask("rita@example.com", follow=True, **GUESSER)
    assert b"If an account uses that address" in sent_page.content
    assert len(mailoutbox) == 5


def test_requests_for_unknown_addresses_count_too(client, ask, recruiter, mailoutbox):
    for n in range(5):
        ask(f"nobody{n}@example.com", **GUESSER)
    ask("rita@example.com", **GUESSER)
    assert mailoutbox == []


def test_another_address_may_still_ask_and_the_limit_lifts_after_an_hour(client, ask, recruiter, mailoutbox, caplog):
    for _ in range(5):
        ask("rita@example.com", **GUESSER)
    with caplog.at_level(logging.WARNING, logger="portal.accounts.services"):
        ask("rita@example.com", **GUESSER)
    assert "Password reset refused: 5 requests from 198.51.100.7 in the last hour" in caplog.text
    ask("rita@example.com", **COLLEAGUE)
    assert len(mailoutbox) == 6
    PasswordResetRequest.objects.update(at=PasswordResetRequest.objects.earliest("at").at - timedelta(minutes=61))
    ask("rita@example.com", **GUESSER)
    assert len(mailoutbox) == 7
    # Every earlier request is now over an hour old: deleted on the way, only the new one is left.
    assert PasswordResetRequest.objects.count() == 1


def test_an_invalid_form_is_not_counted(client, ask, recruiter, mailoutbox):
    for _ in range(10):
        assert ask("not-an-email", **GUESSER).status_code == 200
    ask("rita@example.com", **GUESSER)
    assert len(mailoutbox) == 1


@pytest.mark.parametrize("limit", [1, 3])
def test_the_reset_limit_follows_the_setting(client, ask, recruiter, mailoutbox, settings, limit):
    settings.PORTAL_PASSWORD_RESET_MAX_PER_HOUR = limit
    for _ in range(limit + 2):
        ask("rita@example.com", **GUESSER)
    assert len(mailoutbox) == limit
