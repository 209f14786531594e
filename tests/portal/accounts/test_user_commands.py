"""manage.py create_user and send_password_reset: how operators manage users without the admin."""

import re
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from portal.accounts.models import User
from tests.conftest import PASSWORD
from tests.support.second_factor import confirmed_device, current_code
from tests.support.workers import free_port

NEW_PASSWORD = "a long and private phrase 42"
RECRUITER_PAGE = reverse("recruiter_dashboard")
REVIEWER_PAGE = reverse("review_queue")
STATUS_PAGE = reverse("system_status")


def _create(*args: str, stdin: str | None = None) -> str:
    out = StringIO()
    options = {"stdin": StringIO(stdin)} if stdin is not None else {}
    call_command("create_user", *args, stdout=out, **options)
    return out.getvalue()


def _reset(who: str) -> str:
    out = StringIO()
    call_command("send_password_reset", who, stdout=out)
    return out.getvalue()


def _choose_password_through(client, message, password: str) -> None:
    link = re.search(r"https?://\S+/accounts/password/reset/\S+/", message.body).group()
    form = client.get(urlsplit(link).path, follow=True)
    assert b"Choose a new password" in form.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
    assert done.url == reverse("password_reset_complete")


def _signs_in(client, username: str, password: str) -> bool:
    client.logout()
    return client.post(reverse("login"), {"username": username, "password": password}).status_code == 302


def test_a_created_recruiter_chooses_a_password_through_the_emailed_link_and_reaches_the_dashboard(
    client, db, mailoutbox
):
    output = _create("rita", "--email", "rita@example.com", "--role", "recruiter")
    assert output == (
        "Created user rita <rita@example.com> (Recruiter); emailed a link to choose a password, "
        "valid once for 3 days, to rita@example.com.\n"
    )
    [message] = mailoutbox
    assert (message.to, message.subject) == (
        ["rita@example.com"],
        "Your Assessment Portal account: choose your password",
    )
    assert not User.objects.get(username="rita").has_usable_password()
    _choose_password_through(client, message, NEW_PASSWORD)
    assert _signs_in(client, "rita", NEW_PASSWORD)
    assert client.get(RECRUITER_PAGE).status_code == 200
    assert client.get(REVIEWER_PAGE).status_code == 403


def test_a_reviewer_created_with_a_password_from_stdin_signs_in_with_it_and_gets_no_email(client, db, mailoutbox):
    output = _create(
        "victor", "--email", "victor@example.com", "--role", "reviewer", "--password-stdin", stdin=f"{NEW_PASSWORD}\n"
    )
    assert output == "Created user victor <victor@example.com> (Reviewer); password set from standard input.\n"
    assert mailoutbox == []
    assert _signs_in(client, "victor", NEW_PASSWORD)
    assert client.get(REVIEWER_PAGE).status_code == 200
    assert client.get(RECRUITER_PAGE).status_code == 403


def test_staff_reaches_the_status_page_and_no_role_page(client, db):
    _create("ada", "--email", "ada@example.com", "--role", "staff", "--password-stdin", stdin=NEW_PASSWORD)
    ada = User.objects.get(username="ada")
    assert (ada.is_staff, ada.is_superuser) == (True, False)
    assert _signs_in(client, "ada", NEW_PASSWORD)
    assert client.get(STATUS_PAGE).url == f"{reverse('second_factor')}?next=%2Fstatus%2F"
    client.post(reverse("second_factor"), {"code": current_code(confirmed_device(ada))})
    assert client.get(STATUS_PAGE).status_code == 200
    assert client.get(RECRUITER_PAGE).status_code == 403


def test_roles_can_be_combined(db, mailoutbox):
    output = _create(
        "bea", "--email", "bea@example.com", "--role", "recruiter", "--role", "Reviewer", "--role", "staff"
    )
    assert output.startswith("Created user bea <bea@example.com> (Recruiter, Reviewer, staff);")
    bea = User.objects.get(username="bea")
    assert (bea.is_recruiter, bea.is_reviewer, bea.is_staff) == (True, True, True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nina", "--email", "not-an-email", "--role", "recruiter"], "'not-an-email' is not an email address."),
        (
            ["nina", "--email", "nina@example.com", "--role", "admin"],
            "Unknown role 'admin'; choose from recruiter, reviewer, staff.",
        ),
        (["Rita", "--email", "nina@example.com", "--role", "reviewer"], "A user named 'rita' already exists."),
        (
            ["nina", "--email", "RITA@example.com", "--role", "reviewer"],
            "User 'rita' already has the email address rita@example.com.",
        ),
        (
            ["nina", "--email", "nina@example.com"],
            "Give the user a role (Recruiter, Reviewer) or staff access; with none they can use nothing.",
        ),
        (
            ["nina smith", "--email", "nina@example.com", "--role", "reviewer"],
            "'nina smith' is not a valid username: use letters, digits and @ . + - _ only.",
        ),
    ],
    ids=["invalid email", "unknown role", "taken username", "taken email", "no role", "invalid username"],
)
def test_bad_input_is_refused_in_one_line_and_creates_nothing(recruiter, mailoutbox, args, message):
    with pytest.raises(CommandError) as refused:
        _create(*args)
    assert str(refused.value) == message
    assert list(User.objects.values_list("username", flat=True)) == ["rita"]
    assert mailoutbox == []


def test_a_weak_password_is_refused_with_the_validators_messages(db, mailoutbox):
    with pytest.raises(CommandError) as refused:
        _create("nina", "--email", "nina@example.com", "--role", "recruiter", "--password-stdin", stdin="password\n")
    assert str(refused.value) == (
        "This password is too short. It must contain at least 10 characters. This password is too common."
    )
    assert not User.objects.exists()


def test_an_empty_standard_input_is_refused(db):
    with pytest.raises(CommandError) as refused:
        _create("nina", "--email", "nina@example.com", "--role", "recruiter", "--password-stdin", stdin="")
    assert str(refused.value) == "--password-stdin read no password from standard input."
    assert not User.objects.exists()


def test_when_mail_cannot_be_sent_the_user_exists_and_the_error_says_how_to_resend(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5
    with pytest.raises(CommandError) as refused:
        _create("rita", "--email", "rita@example.com", "--role", "recruiter")
    assert str(refused.value).startswith("Created user 'rita', but the email to rita@example.com could not be sent")
    assert str(refused.value).endswith("once mail works, run: manage.py send_password_reset rita")
    assert User.objects.filter(username="rita").exists()


def test_send_password_reset_finds_the_user_by_username_or_email(client, recruiter, mailoutbox):
    assert _reset("rita") == (
        "Emailed rita a link to choose a new password, valid once for 3 days, to rita@example.com.\n"
    )
    _reset("RITA@example.com")
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["rita@example.com"], "Reset your Assessment Portal password")
    ] * 2
    recruiter.refresh_from_db()
    assert recruiter.check_password(PASSWORD), "the old password works until a link is used"
    _choose_password_through(client, mailoutbox[1], NEW_PASSWORD)
    assert not _signs_in(client, "rita", PASSWORD)
    assert _signs_in(client, "rita", NEW_PASSWORD)


def test_send_password_reset_refuses_an_unknown_user_in_one_line(recruiter, mailoutbox):
    with pytest.raises(CommandError) as refused:
        _reset("ghost@example.com")
    assert str(refused.value) == "No user with the username or email address 'ghost@example.com'."
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"is_active": False}, "User 'rita' is inactive; activate the account in the admin first."),
        ({"email": ""}, "User 'rita' has no email address; set one in the admin first."),
    ],
)
def test_send_password_reset_refuses_users_who_could_not_use_the_link(recruiter, mailoutbox, change, message):
    User.objects.filter(pk=recruiter.pk).update(**change)
    with pytest.raises(CommandError) as refused:
        _reset("rita")
    assert str(refused.value) == message
    assert mailoutbox == []
