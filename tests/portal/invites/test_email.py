"""Invitation emails and submission notices: queued as rows, sent by a task, through a real SMTP server."""

import re
from datetime import UTC, timedelta
from email.message import Message
from urllib.parse import urlsplit

import pytest
from celery import Celery, current_app
from django.utils import timezone

from portal.core.dispatch import send_on_commit
from portal.invites.emails import EmailDeferred, EmailRefused, email_retry, email_send, invitation_queue
from portal.invites.models import Email, Event, Invite
from portal.invites.selectors import invite_for_git_credentials
from portal.invites.services import invite_link_renew, invite_revoke, invite_submit
from portal.invites.tokens import git_token_for
from tests.support.factories import make_invite
from tests.support.workers import free_port


def _parts(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode(part.get_content_charset()).replace("\r\n", "\n")
        for part in message.walk()
        if not part.is_multipart()
    }


def _link(text: str) -> str:
    return re.search(r"https?://\S+/i/[\w-]+/", text).group(0)


def _invite_send(invite: Invite, broker, **options) -> Email:
    with broker.commit():
        email = invitation_queue(invite=invite, **options)
    assert broker.run() == ["invites.send_email"]
    email.refresh_from_db()
    return email


def test_the_invitation_arrives_with_a_new_link_that_replaces_the_old_one(
    client, settings, smtp, broker, assessment_version, recruiter
):
    deadline = timezone.now() + timedelta(days=5)
    created = make_invite(assessment_version, created_by=recruiter, deadline=deadline, email="ann@example.com")
    invite = created.invite

    email = _invite_send(invite, broker, by=recruiter)

    assert (email.status, email.attempts, email.to) == (Email.Status.SENT, 1, "ann@example.com")
    [message] = smtp.messages
    assert message.get_content_type() == "multipart/alternative"
    assert message["Reply-To"] == recruiter.email
    assert message["Subject"] == "Your assessment: Library lending API"
    parts = _parts(message)
    link = _link(parts["text/plain"])
    assert link.startswith(settings.PORTAL_BASE_URL)
    assert link in parts["text/html"]
    page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert "Ann Example" in page.content.decode()
    assert client.get(f"/i/{created.link_token}/").status_code == 404
    assert invite_for_git_credentials(public_id=invite.public_id, password=created.git_token) is None
    new_token = urlsplit(link).path.strip("/").split("/")[-1]
    new_password = git_token_for(link_token=new_token, public_id=invite.public_id)
    assert invite_for_git_credentials(public_id=invite.public_id, password=new_password) == invite
    emailed = invite.events.get(kind=Event.Kind.EMAILED)
    assert emailed.data == {"email": email.pk, "kind": "invitation", "to": "ann@example.com", "new_link": True}


def test_the_plain_text_reads_well(settings, smtp, broker, assessment_version, recruiter):
    deadline = timezone.now().replace(microsecond=0) + timedelta(days=3)
    invite = make_invite(assessment_version, created_by=recruiter, deadline=deadline).invite
    _invite_send(invite, broker)
    text = _parts(smtp.messages[0])["text/plain"]
    assert not re.search(r"<[a-z/!]", text)
    assert text.startswith("Hello Ann Example,\n\n")
    assert "Library lending API" in text
    assert _link(text) in text
    utc = deadline.astimezone(UTC)
    assert f"{utc:%A} {utc.day} {utc:%B %Y at %H:%M} UTC" in text
    assert "2 days" in text
    assert recruiter.email in text
    assert "\n\n\n" not in text


def test_a_time_limit_is_told_in_words(smtp, broker, assessment_version):
    invite = make_invite(assessment_version, time_limit=timedelta(hours=4)).invite
    _invite_send(invite, broker)
    text = _parts(smtp.messages[0])["text/plain"]
    assert "You have 4 hours from your first clone" in text


def test_a_failed_send_keeps_the_old_link_and_can_be_retried(client, settings, smtp, broker, created):
    settings.EMAIL_PORT = free_port()  # nothing listens there
    with broker.commit():
        email = invitation_queue(invite=created.invite)
    email = email_send(email_id=email.pk)

    assert email.status == Email.Status.FAILED
    assert email.error.startswith("ConnectionRefusedError")
    failed = created.invite.events.get(kind=Event.Kind.EMAIL_FAILED)
    assert failed.data["error"] == email.error
    assert client.get(f"/i/{created.link_token}/").status_code == 200
    assert not created.invite.events.filter(kind=Event.Kind.LINK_RENEWED).exists()

    settings.EMAIL_PORT = smtp.port
    broker.tasks.clear()
    with broker.commit():
        email_retry(email=email)
    broker.run()
    email.refresh_from_db()
    assert (email.status, email.error, email.attempts) == (Email.Status.SENT, "", 2)
    assert len(smtp.messages) == 1
    assert client.get(f"/i/{created.link_token}/").status_code == 404


def test_an_attempt_before_the_last_leaves_the_email_queued(settings, created):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    email = invitation_queue(invite=created.invite)
    with pytest.raises(EmailDeferred, match="ConnectionRefusedError"):
        email_send(email_id=email.pk, final=False)
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.QUEUED, 1)
    assert email.error.startswith("ConnectionRefusedError")
    assert not created.invite.events.filter(kind=Event.Kind.EMAIL_FAILED).exists()


def test_the_task_tries_three_times_before_giving_up(settings, created):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    email = invitation_queue(invite=created.invite)
    # Run eagerly, Celery runs the retries at once, one after the other.
    current_app.tasks["invites.send_email"].apply(kwargs={"email_id": email.pk})
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.FAILED, 3)
    assert created.invite.events.filter(kind=Event.Kind.EMAIL_FAILED).count() == 1


def test_the_error_never_shows_the_smtp_password(settings, created):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_HOST_PASSWORD = "ConnectionRefusedError"  # a password that the error message would contain
    email = email_send(email_id=invitation_queue(invite=created.invite).pk)
    assert email.status == Email.Status.FAILED
    assert "ConnectionRefusedError" not in email.error
    assert "[hidden]" in email.error


def test_a_hostile_name_is_escaped_and_injects_no_header(smtp, broker, assessment_version):
    name = "<script>alert(1)</script>\r\nBcc: x@evil"
    invite = make_invite(assessment_version, name=name, email="mal@example.com").invite
    _invite_send(invite, broker)

    [message] = smtp.messages
    assert smtp.envelopes[0][1] == ["mal@example.com"]
    assert message["Bcc"] is None
    html = _parts(message)["text/html"]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_hostile_name_keeps_the_notice_subject_on_one_line(smtp, broker, assessment_version, recruiter):
    invite = make_invite(assessment_version, name="Eve\r\nBcc: x@evil\nX: y", created_by=recruiter).invite
    with broker.commit():
        invite_submit(invite=invite)
    broker.run()
    [message] = smtp.messages
    assert message["Subject"] == "Submitted: Eve Bcc: x@evil X: y, Library lending API"
    assert message["Bcc"] is None and message["X"] is None
    assert smtp.envelopes[0][1] == [recruiter.email]


def test_a_resend_issues_a_new_link(client, smtp, broker, created):
    _invite_send(created.invite, broker)
    first = _link(_parts(smtp.messages[0])["text/plain"])
    with pytest.raises(EmailRefused, match="already sent"):
        invitation_queue(invite=created.invite)
    _invite_send(created.invite, broker, resend=True)
    second = _link(_parts(smtp.messages[1])["text/plain"])
    assert first != second
    assert client.get(urlsplit(first).path).status_code == 404
    assert client.get(urlsplit(second).path).status_code == 200


def test_a_second_invitation_is_refused_while_one_waits(created):
    invitation_queue(invite=created.invite)
    with pytest.raises(EmailRefused, match="already waiting"):
        invitation_queue(invite=created.invite, resend=True)
    assert created.invite.emails.count() == 1


def test_a_revoked_invite_gets_no_invitation(created):
    invite_revoke(invite=created.invite)
    with pytest.raises(EmailRefused, match=r"This invite is revoked: no invitation can be sent for it\."):
        invitation_queue(invite=created.invite)
    assert not Email.objects.exists()


def test_a_submitted_invite_gets_no_invitation(created):
    invite_submit(invite=created.invite)
    with pytest.raises(EmailRefused, match="already submitted"):
        invitation_queue(invite=created.invite)
    assert not Email.objects.exists()


def test_an_invite_revoked_while_its_invitation_waits_is_not_sent(created, mailoutbox):
    email = invitation_queue(invite=created.invite)
    invite_revoke(invite=created.invite)
    email = email_send(email_id=email.pk)
    assert (email.status, email.error) == (
        Email.Status.FAILED,
        "The invite was revoked before the invitation went out.",
    )
    assert mailoutbox == []
    with pytest.raises(EmailRefused, match="revoked"):
        email_retry(email=email)


@pytest.mark.parametrize("status", [Email.Status.SENT, Email.Status.QUEUED])
def test_only_a_failed_email_can_be_retried(created, status):
    email = invitation_queue(invite=created.invite)
    Email.objects.filter(pk=email.pk).update(status=status)
    email.refresh_from_db()
    with pytest.raises(EmailRefused, match=rf"Only a failed email can be sent again; this one is {status}\."):
        email_retry(email=email)
    email.refresh_from_db()
    assert email.status == status


def test_a_sent_email_is_not_sent_twice(created, mailoutbox):
    email = invitation_queue(invite=created.invite)
    email_send(email_id=email.pk)
    hash_after_first = Invite.objects.get(pk=created.invite.pk).link_token_hash
    email = email_send(email_id=email.pk)
    assert len(mailoutbox) == 1
    assert email.attempts == 1
    assert Invite.objects.get(pk=created.invite.pk).link_token_hash == hash_after_first


def test_renewing_the_link_ends_the_old_link_and_password(client, created, recruiter):
    link_token, git_token = invite_link_renew(invite=created.invite, by=recruiter)
    assert client.get(f"/i/{created.link_token}/").status_code == 404
    assert client.get(f"/i/{link_token}/").status_code == 200
    assert invite_for_git_credentials(public_id=created.invite.public_id, password=created.git_token) is None
    assert invite_for_git_credentials(public_id=created.invite.public_id, password=git_token) == created.invite
    assert created.invite.events.get(kind=Event.Kind.LINK_RENEWED).data == {"by": "rita", "emailed": False}


def test_the_submission_notice_goes_to_the_recruiter_who_invited(broker, assessment_version, recruiter, mailoutbox):
    invite = make_invite(assessment_version, created_by=recruiter).invite
    with broker.commit():
        invite_submit(invite=invite)
    # The similarity check (portal/integrity) is queued by the same submission.
    assert broker.run() == ["integrity.compare", "invites.submitted_notice", "invites.send_email"]
    [message] = mailoutbox
    assert message.to == [recruiter.email]
    assert message.reply_to == []
    assert f"/reviews/invites/{invite.public_id}/" in message.body
    assert "Ann Example" in message.body and "submitted their work" in message.body


def test_without_a_creator_the_notice_goes_to_every_active_recruiter(
    broker, invite, recruiter, recruiter_and_reviewer, reviewer, mailoutbox
):
    recruiter_and_reviewer.is_active = False
    recruiter_and_reviewer.save()
    with broker.commit():
        invite_submit(invite=invite, automatic=True)
    broker.run()
    assert [message.to for message in mailoutbox] == [[recruiter.email]]
    assert "submitted automatically" in mailoutbox[0].body


def test_the_notice_is_queued_once_even_if_its_task_runs_twice(broker, invite, recruiter):
    with broker.commit():
        invite_submit(invite=invite)
    broker.tasks.append(broker.tasks[0])
    broker.run()
    assert invite.emails.filter(kind=Email.Kind.SUBMITTED_NOTICE).count() == 1


def test_the_console_outbox_keeps_a_copy_by_default(settings, tmp_path, created):
    settings.EMAIL_BACKEND = "portal.core.mail.ConsoleOutboxBackend"
    settings.EMAIL_OUTBOX_DIR = tmp_path / "outbox"
    email = email_send(email_id=invitation_queue(invite=created.invite).pk)
    assert email.status == Email.Status.SENT
    [copy] = (tmp_path / "outbox").glob("*.eml")
    assert "/i/" in copy.read_text()


def test_the_tasks_are_registered_under_their_names(django_capture_on_commit_callbacks, created):
    email = invitation_queue(invite=created.invite)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send_on_commit("invites.send_email", email_id=email.pk)
        send_on_commit("invites.send_reminders")
        send_on_commit("invites.submitted_notice", invite_id=created.invite.pk)
    assert len(callbacks) == 3


def test_an_invitation_queued_while_the_broker_is_down_is_sent_by_the_sweep_once(
    monkeypatch, broker, smtp, created, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    from portal.invites.emails import UNSENT_AFTER
    from portal.scoring.services import runs_sweep

    def down(app, name, args=None, kwargs=None, **options):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as outage:
        outage.setattr(Celery, "send_task", down)
        with broker.commit():
            email = invitation_queue(invite=created.invite)  # the recruiter's form: no error
    email.refresh_from_db()
    assert (email.status, email.task_sent_at) == (Email.Status.QUEUED, None)
    assert runs_sweep().emails == 0  # just queued: its send may still be on its way
    Email.objects.filter(pk=email.pk).update(queued_at=timezone.now() - UNSENT_AFTER - timedelta(seconds=1))
    with broker.commit():
        assert runs_sweep().emails == 1
    assert runs_sweep().emails == 0  # the broker took it: never a second task
    assert broker.run() == ["invites.send_email"]
    email.refresh_from_db()
    assert email.status == Email.Status.SENT and email.task_sent_at is not None
    assert len(smtp.messages) == 1


def test_a_taken_email_task_is_never_sent_twice_by_the_sweep(broker, created):
    from portal.invites.emails import UNSENT_AFTER
    from portal.scoring.services import runs_sweep

    with broker.commit():
        email = invitation_queue(invite=created.invite)
    Email.objects.filter(pk=email.pk).update(queued_at=timezone.now() - UNSENT_AFTER * 10)
    assert Email.objects.get(pk=email.pk).task_sent_at is not None
    assert runs_sweep().emails == 0
    assert [name for name, _kwargs in broker.tasks] == ["invites.send_email"]
