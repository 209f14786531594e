"""Password reset by email, through the real views, the task a worker runs and a real SMTP server."""

import logging
import re
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from portal.accounts.models import User
from portal.accounts.roles import REVIEWER
from portal.accounts.services import user_create
from tests.conftest import PASSWORD
from tests.support.workers import free_port

BASE_URL = "https://portal.example.com"
NEW_PASSWORD = "a long and private phrase 42"
RESET_PAGE = reverse("password_reset")
SENT_PAGE = reverse("password_reset_done")


@pytest.fixture
def inbox(settings, smtp_inbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_inbox.host, smtp_inbox.port
    settings.PORTAL_BASE_URL = BASE_URL
    # As behind a proxy that passes any Host header through: links must still name the portal.
    settings.ALLOWED_HOSTS = ["testserver", "attacker.example"]
    return smtp_inbox


@pytest.fixture
def ask(client, broker):
    """Posts the reset form as a browser does; then, unless told not to, a worker runs the queued tasks."""

    def post(email: str, *, work: bool = True, **headers):
        with broker.commit():  # the request's transaction commits: its tasks go to the broker
            response = client.post(RESET_PAGE, {"email": email}, **headers)
        if work:
            broker.run()
        return response

    return post


def _parts(message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


def _link(message) -> str:
    return re.search(r"https?://\S+/accounts/password/reset/\S+/", _parts(message)["text/plain"]).group()


def _set_password(client, link: str, password: str):
    form = client.get(urlsplit(link).path, follow=True)
    return client.post(form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password}, follow=True)


def _signs_in(client, username: str, password: str) -> bool:
    client.logout()
    return client.post(reverse("login"), {"username": username, "password": password}).status_code == 302


def test_the_login_page_offers_the_reset_form(client, db):
    assert f'href="{RESET_PAGE}">Forgot your password?</a>'.encode() in client.get(reverse("login")).content
    assert b"Reset password" in client.get(RESET_PAGE).content


def test_the_request_sends_no_mail_itself_a_task_sends_it(client, ask, broker, recruiter, inbox):
    response = ask("rita@example.com", work=False)
    assert response.url == SENT_PAGE
    assert inbox.messages == []
    assert broker.tasks == [("accounts.password_reset", {"email": "rita@example.com"})]
    assert broker.run() == ["accounts.password_reset"]
    assert [m["To"] for m in inbox.messages] == ["rita@example.com"]


def test_known_and_unknown_addresses_get_identical_answers_after_identical_work(client, ask, broker, recruiter, inbox):
    answers = []
    for email in ("rita@example.com", "nobody@example.com"):
        with CaptureQueriesContext(connection) as queries:
            response = ask(email, work=False)
        tables = [q["sql"].split(" FROM ", 1)[-1].split(" ", 1)[0] for q in queries.captured_queries]
        answers.append((response.status_code, response.url, sorted(response.cookies), tables))
    assert answers[0] == answers[1]
    assert "accounts_user" not in " ".join(answers[0][3])
    assert [kwargs["email"] for _, kwargs in broker.tasks] == ["rita@example.com", "nobody@example.com"]
    assert inbox.messages == []


def test_the_email_has_text_and_html_and_links_to_the_portal_whatever_host_the_request_named(
    client, ask, recruiter, inbox
):
    response = ask("rita@example.com", HTTP_HOST="attacker.example")
    assert response.url == SENT_PAGE
    [message] = inbox.messages
    assert (message["To"], message["Subject"]) == ("rita@example.com", "Reset your Assessment Portal password")
    parts = _parts(message)
    assert list(parts) == ["text/plain", "text/html"]
    link = _link(message)
    assert link.startswith(f"{BASE_URL}/accounts/password/reset/")
    assert f'href="{link}"' in parts["text/html"]
    assert "attacker.example" not in message.as_string()


def test_following_the_link_sets_a_new_password_and_the_old_one_stops_working(client, ask, recruiter, inbox):
    ask("Rita@Example.com")
    form = client.get(urlsplit(_link(inbox.messages[0])).path, follow=True)
    assert b"For the account <strong>rita</strong>" in form.content
    weak = client.post(form.redirect_chain[-1][0], {"new_password1": "rita12345", "new_password2": "rita12345"})
    assert b"This password is too short" in weak.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.url == reverse("password_reset_complete")
    assert not _signs_in(client, "rita", PASSWORD)
    assert _signs_in(client, "rita", NEW_PASSWORD)
    assert client.get(reverse("recruiter_dashboard")).status_code == 200


@pytest.mark.parametrize("email", ["nobody@example.com", "inactive@example.com"])
def test_an_unknown_or_inactive_address_gets_the_same_sent_page_and_no_email(client, ask, recruiter, inbox, email):
    User.objects.create_user(username="gone", email="inactive@example.com", password=PASSWORD, is_active=False)
    known = ask("rita@example.com")
    other = ask(email, follow=True)
    assert (other.redirect_chain, other.status_code) == ([(known.url, 302)], 200)
    assert b"If an account uses that address" in other.content
    assert [m["To"] for m in inbox.messages] == ["rita@example.com"]


def test_a_mail_failure_in_the_task_is_logged_and_the_page_is_the_same(client, ask, recruiter, settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5
    with caplog.at_level(logging.ERROR, logger="portal.accounts.services"):
        response = ask("rita@example.com")
    assert response.url == SENT_PAGE
    assert f"Could not send a password reset email to user {recruiter.pk}" in caplog.text


def test_an_invalid_address_is_refused_by_the_form(client, ask, db, inbox):
    response = ask("not-an-email")
    assert b"Enter a valid email address." in response.content
    assert inbox.messages == []


def test_a_used_link_is_refused_with_a_clear_page(client, ask, recruiter, inbox):
    ask("rita@example.com")
    link = urlsplit(_link(inbox.messages[0])).path
    form = client.get(link, follow=True)
    set_password_page = form.redirect_chain[-1][0]
    assert b"Password set" in _set_password(client, link, NEW_PASSWORD).content
    again = client.get(link)
    assert b"Link not valid" in again.content
    assert b"it was already used, it has expired, or it was not copied whole" in again.content
    replay = client.post(
        set_password_page, {"new_password1": "another phrase 99", "new_password2": "another phrase 99"}
    )
    assert b"Link not valid" in replay.content
    recruiter.refresh_from_db()
    assert recruiter.check_password(NEW_PASSWORD)


def test_a_tampered_link_is_refused_with_a_clear_page(client, ask, recruiter, admin_user, inbox):
    ask("rita@example.com")
    uid, token = urlsplit(_link(inbox.messages[0])).path.split("/")[-3:-1]
    altered_token = token[:-1] + ("b" if token.endswith("a") else "a")
    admin_uid = urlsafe_base64_encode(force_bytes(admin_user.pk))
    for uidb64, tampered in [(uid, altered_token), (admin_uid, token), ("not-a-uid", token)]:
        page = client.get(reverse("password_reset_confirm", kwargs={"uidb64": uidb64, "token": tampered}))
        assert b"Link not valid" in page.content, (uidb64, tampered)
    assert "_password_reset_token" not in client.session


def test_a_user_who_never_chose_a_password_can_ask_for_a_new_welcome_link(client, ask, db, inbox):
    user_create(username="victor", email="victor@example.com", roles=[REVIEWER])
    ask("victor@example.com")
    first, second = inbox.messages
    assert first["Subject"] == second["Subject"] == "Your Assessment Portal account: choose your password"
    _set_password(client, _link(second), NEW_PASSWORD)
    assert not _signs_in(client, "victor", "")
    assert _signs_in(client, "victor", NEW_PASSWORD)
    assert client.get(reverse("review_queue")).status_code == 200
