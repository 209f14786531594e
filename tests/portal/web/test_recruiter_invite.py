"""The recruiter's page for one invite: times, emails, timeline, result, and its actions."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.hosting.services import fetch_record
from portal.invites.models import Email, Event, Invite
from portal.invites.services import (
    InviteActionError,
    event_record,
    invite_extend,
    invite_opened_record,
    invite_reopen,
    invite_revoke,
    invite_submit,
)
from portal.web.recruiter import event_sentence
from tests.support.factories import make_invite, push_branches, store_verdicts


def _url(invite) -> str:
    return reverse("recruiter_invite_detail", args=[invite.public_id])


def _action_url(invite) -> str:
    return reverse("recruiter_invite_action", args=[invite.public_id])


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _shown(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _state(invite) -> tuple:
    invite = Invite.objects.get(pk=invite.pk)
    return (invite.status, invite.deadline, invite.time_limit, invite.link_token_hash, invite.events.count())


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def signed_in(client, recruiter):
    client.force_login(recruiter)
    return client


# Who may see it.


def test_anonymous_visitors_are_sent_to_sign_in(client, invite):
    response = client.get(_url(invite))
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={_url(invite)}"


@pytest.mark.parametrize("persona", ["reviewer", "no_role_user"])
def test_users_without_the_recruiter_role_are_refused(client, invite, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(_url(invite)).status_code == 403
    assert client.post(_action_url(invite), {"action": "revoke", "confirm": "yes"}).status_code == 403
    assert Invite.objects.get(pk=invite.pk).status == Invite.Status.ACTIVE


def test_an_unknown_invite_is_404(signed_in, db):
    assert signed_in.get(reverse("recruiter_invite_detail", args=["nosuchinvite"])).status_code == 404
    assert (
        signed_in.post(reverse("recruiter_invite_action", args=["nosuchinvite"]), {"action": "revoke"}).status_code
        == 404
    )


def test_actions_need_a_post_with_its_csrf_token(recruiter, invite):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(recruiter)
    assert strict.post(_action_url(invite), {"action": "revoke", "confirm": "yes"}).status_code == 403
    assert strict.get(_action_url(invite)).status_code == 405
    assert Invite.objects.get(pk=invite.pk).status == Invite.Status.ACTIVE


# What it shows.


def test_it_shows_the_candidate_assessment_version_stage_and_times(signed_in, assessment_version):
    invite = make_invite(
        assessment_version, name="Ann Example", email="ann@example.com", deadline=timezone.now() + timedelta(days=2)
    ).invite
    invite_opened_record(invite=invite)
    response = signed_in.get(_url(invite))
    text = response.content.decode()
    assert response.status_code == 200
    assert "ann@example.com" in text
    assert assessment_version.assessment.title in text
    assert assessment_version.short_hash in text
    assert response.context["row"].stage == "opened"
    assert 'data-stage="opened"' in text
    assert "1 day 23 hours left" in text or "2 days left" in text


def test_a_hostile_candidate_name_is_escaped(signed_in, assessment_version):
    invite = make_invite(assessment_version, name='<img src=x onerror="alert(1)">').invite
    content = signed_in.get(_url(invite)).content
    assert b"<img src=x" not in content
    assert b"&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in content


def test_an_invite_with_nothing_pushed_says_so_and_shows_no_scoring_buttons(signed_in, invite):
    text = signed_in.get(_url(invite)).content.decode()
    assert "Nothing pushed yet." in text
    assert "rescore" not in text.lower()
    assert reverse("invite_rescore", args=[invite.public_id]) not in text


def test_a_scored_invite_shows_its_score_and_the_ticket_branch_matrix_read_only(signed_in, admin_user, invite):
    fetch_record(invite=invite, address="10.0.0.2")
    push_branches(invite, 1)
    store_verdicts(invite)
    signed_in.force_login(admin_user)  # even an administrator gets no scoring buttons here
    text = signed_in.get(_url(invite)).content.decode()
    assert "15 / 100" in text
    assert '<th scope="col">issue-1</th>' in text
    assert "fixed on issue-1" in text
    assert reverse("invite_rescore", args=[invite.public_id]) not in text


def test_the_timeline_tells_every_event_as_a_sentence_in_order(signed_in, recruiter, invite):
    invite_opened_record(invite=invite)
    fetch_record(invite=invite, address="10.0.0.2")
    heads = push_branches(invite, 1)
    event_record(invite=invite, kind=Event.Kind.EMAILED, data={"kind": "invitation", "to": "ann@example.com"})
    event_record(invite=invite, kind="teleported", data={"to": "mars"})
    text = signed_in.get(_url(invite)).content.decode()
    sentences = [
        "Opened the invitation page",
        "Cloned from 10.0.0.2",
        f"Pushed issue-1 ({heads['issue-1'][:7]})",
        "Invitation sent to ann@example.com",
        "Teleported",
    ]
    positions = [text.index(s) for s in sentences]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("kind", "data", "sentence"),
    [
        ("invited", {"by": "rita"}, "Invited by rita"),
        (
            "email_failed",
            {"kind": "invitation", "to": "a@x.org", "error": "refused"},
            "Invitation to a@x.org could not be sent: refused",
        ),
        ("reminded", {"to": "a@x.org"}, "Reminder sent to a@x.org"),
        ("link_renewed", {"by": "rita"}, "New link made by rita; the old link and git password stopped working"),
        ("started", {}, "Started the clock"),
        (
            "pushed",
            {"refs": [{"ref": "refs/heads/issue-2", "old": "a" * 40, "new": "0" * 40}]},
            "Pushed deleted issue-2",
        ),
        ("submitted", {"automatic": True}, "Time ran out: the work pushed by then was submitted automatically"),
        ("revoked", {"by": "rita"}, "Revoked by rita"),
        (
            "extended",
            {"by": "rita", "old_deadline": "2030-01-01T10:00:00+00:00", "new_deadline": "2030-01-02T10:00:00+00:00"},
            "Deadline extended from 2030-01-01 10:00 to 2030-01-02 10:00 by rita",
        ),
        ("extended", {"old_time_limit": 3600, "new_time_limit": 7200}, "Time limit extended from 1 hour to 2 hours"),
        ("reopened", {"by": "rita", "was": "submitted"}, "Reopened by rita (was submitted)"),
        ("pushed", "not a dict", "Pushed"),
        (
            "scored",
            {"ref": "refs/heads/issue-1", "commit": "b" * 40, "status": "passed"},
            "Scored issue-1 (bbbbbbb): passed",
        ),
    ],
)
def test_each_kind_of_event_reads_as_a_plain_sentence(kind, data, sentence):
    assert event_sentence(kind, data) == sentence


def test_a_push_of_many_branches_is_summed_up():
    refs = [{"ref": f"refs/heads/b{i}", "old": "0" * 40, "new": "c" * 40} for i in range(8)]
    assert event_sentence("pushed", {"refs": refs}).endswith("b4 (ccccccc) and 3 more")


# Extending.


def test_extending_the_deadline_records_old_and_new_and_who(signed_in, assessment_version):
    old = timezone.now() + timedelta(days=1)
    invite = make_invite(assessment_version, deadline=old).invite
    new = (old + timedelta(days=2)).replace(second=0, microsecond=0)
    response = signed_in.post(_action_url(invite), {"action": "extend", "deadline": _local(new)}, follow=True)
    assert "The invite has more time." in _messages(response)
    assert Invite.objects.get(pk=invite.pk).deadline == new
    event = invite.events.get(kind=Event.Kind.EXTENDED)
    assert event.data["by"] == "rita"
    assert event.data["old_deadline"] == old.isoformat()
    assert f"Deadline extended from {_shown(old)} to {_shown(new)} by rita" in response.content.decode()


def test_extra_hours_are_added_to_the_time_limit(signed_in, assessment_version):
    invite = make_invite(assessment_version, time_limit=timedelta(hours=3)).invite
    response = signed_in.post(_action_url(invite), {"action": "extend", "extra_hours": "1.5"}, follow=True)
    assert Invite.objects.get(pk=invite.pk).time_limit == timedelta(hours=4, minutes=30)
    assert "Time limit extended from 3 hours to 4 hours 30 minutes by rita" in response.content.decode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"deadline": "past"}, "is in the past"),
        ({"deadline": "earlier"}, "is not later than the current one"),
        ({"extra_hours": "0"}, "Extra time must be more than zero"),
        ({"extra_hours": "-2"}, "Extra time must be more than zero"),
        ({"extra_hours": "lots"}, "Extra hours: Enter a number."),
        ({"extra_hours": "99999999"}, "Extra hours:"),
        ({"deadline": "2030-13-45T99:99"}, "New deadline: Enter a valid date/time."),
        ({}, "Give a new deadline, extra time, or both."),
    ],
)
def test_a_wrong_extension_is_refused_and_changes_nothing(signed_in, assessment_version, fields, message):
    deadline = timezone.now() + timedelta(days=1)
    invite = make_invite(assessment_version, deadline=deadline, time_limit=timedelta(hours=3)).invite
    moments = {"past": _local(timezone.now() - timedelta(days=1)), "earlier": _local(deadline - timedelta(hours=2))}
    fields = {name: moments.get(value, value) for name, value in fields.items()}
    before = _state(invite)
    response = signed_in.post(_action_url(invite), {"action": "extend", **fields}, follow=True)
    assert response.status_code == 200
    assert any(message in m and m.endswith("Nothing was changed.") for m in _messages(response)), _messages(response)
    assert _state(invite) == before


def test_a_revoked_invite_cannot_be_extended(signed_in, assessment_version):
    invite = invite_revoke(invite=make_invite(assessment_version, deadline=timezone.now() + timedelta(days=1)).invite)
    before = _state(invite)
    later = _local(timezone.now() + timedelta(days=5))
    response = signed_in.post(_action_url(invite), {"action": "extend", "deadline": later}, follow=True)
    assert "This invite is revoked; reopen it to give the candidate time again. Nothing was changed." in _messages(
        response
    )
    assert _state(invite) == before


def test_extending_an_invite_without_a_deadline_or_limit_is_refused(invite):
    with pytest.raises(InviteActionError, match="no deadline"):
        invite_extend(invite=invite, deadline=timezone.now() + timedelta(days=1))
    with pytest.raises(InviteActionError, match="no time limit"):
        invite_extend(invite=invite, extra_time=timedelta(hours=1))


def test_extra_time_that_still_leaves_the_invite_closed_is_refused(assessment_version):
    invite = make_invite(assessment_version, time_limit=timedelta(hours=3)).invite
    Invite.objects.filter(pk=invite.pk).update(started_at=timezone.now() - timedelta(hours=5))
    with pytest.raises(InviteActionError, match="would have closed"):
        invite_extend(invite=invite, extra_time=timedelta(hours=1))
    assert Invite.objects.get(pk=invite.pk).time_limit == timedelta(hours=3)


# Reopening.


def test_reopening_a_submitted_invite_makes_it_active_again(signed_in, invite):
    invite_submit(invite=invite)
    response = signed_in.post(_action_url(invite), {"action": "reopen"}, follow=True)
    invite = Invite.objects.get(pk=invite.pk)
    assert (invite.status, invite.submitted_at) == (Invite.Status.ACTIVE, None)
    assert "Reopened by rita (was submitted)" in response.content.decode()


def test_reopening_a_revoked_invite_brings_its_link_back(signed_in, client, created):
    invite = invite_revoke(invite=created.invite)
    page = reverse("invite_page", args=[created.link_token])
    assert client.get(page).status_code == 404
    signed_in.post(_action_url(invite), {"action": "reopen"})
    assert Invite.objects.get(pk=invite.pk).revoked_at is None
    assert client.get(page).status_code == 200


def test_an_invite_whose_time_is_over_needs_a_new_deadline_to_reopen(signed_in, assessment_version):
    invite = make_invite(assessment_version, deadline=timezone.now() + timedelta(hours=1)).invite
    Invite.objects.filter(pk=invite.pk).update(deadline=timezone.now() - timedelta(hours=1))
    invite_submit(invite=invite, automatic=True)
    before = _state(invite)
    response = signed_in.post(_action_url(invite), {"action": "reopen", "deadline": ""}, follow=True)
    assert any("give a new deadline in the future" in m for m in _messages(response))
    assert _state(invite) == before
    new = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    signed_in.post(_action_url(invite), {"action": "reopen", "deadline": _local(new)})
    invite = Invite.objects.get(pk=invite.pk)
    assert (invite.status, invite.deadline) == (Invite.Status.ACTIVE, new)


def test_a_spent_time_limit_is_lengthened_to_the_new_deadline(assessment_version):
    invite = make_invite(assessment_version, time_limit=timedelta(hours=3)).invite
    Invite.objects.filter(pk=invite.pk).update(started_at=timezone.now() - timedelta(hours=4))
    invite = invite_submit(invite=Invite.objects.get(pk=invite.pk), automatic=True)
    deadline = timezone.now() + timedelta(hours=2)
    invite = invite_reopen(invite=invite, deadline=deadline)
    assert invite.closes_at == deadline
    assert not invite.is_expired(timezone.now())


def test_an_active_invite_cannot_be_reopened(signed_in, invite):
    before = _state(invite)
    response = signed_in.post(_action_url(invite), {"action": "reopen"}, follow=True)
    assert "This invite is already active; there is nothing to reopen. Nothing was changed." in _messages(response)
    assert _state(invite) == before


def test_reopening_with_a_deadline_in_the_past_is_refused(invite):
    invite_submit(invite=invite)
    with pytest.raises(InviteActionError, match="in the past"):
        invite_reopen(invite=invite, deadline=timezone.now() - timedelta(minutes=1))
    assert Invite.objects.get(pk=invite.pk).status == Invite.Status.SUBMITTED


# Revoking.


def test_revoking_asks_first_then_revokes(signed_in, invite):
    first = signed_in.post(_action_url(invite), {"action": "revoke"})
    assert first.status_code == 200
    assert b"Revoke this invite?" in first.content
    assert Invite.objects.get(pk=invite.pk).status == Invite.Status.ACTIVE
    response = signed_in.post(_action_url(invite), {"action": "revoke", "confirm": "yes"}, follow=True)
    assert Invite.objects.get(pk=invite.pk).status == Invite.Status.REVOKED
    assert "Revoked by rita" in response.content.decode()


def test_revoking_twice_is_refused(signed_in, invite):
    invite_revoke(invite=invite)
    before = _state(invite)
    response = signed_in.post(_action_url(invite), {"action": "revoke", "confirm": "yes"}, follow=True)
    assert "This invite is already revoked. Nothing was changed." in _messages(response)
    assert _state(invite) == before


@pytest.mark.parametrize("action", ["", "delete", "rescore", "<script>"])
def test_an_unknown_action_is_refused(signed_in, invite, action):
    before = _state(invite)
    response = signed_in.post(_action_url(invite), {"action": action, "confirm": "yes"}, follow=True)
    assert "That action is unknown. Nothing was changed." in _messages(response)
    assert _state(invite) == before


# New links and emails.


def test_a_new_link_is_shown_once_and_the_old_one_stops_working(signed_in, client, created):
    invite = created.invite
    old_page = reverse("invite_page", args=[created.link_token])
    warning = signed_in.post(_action_url(invite), {"action": "new_link"})
    assert b"stop working" in warning.content
    assert _state(invite)[3] == invite.link_token_hash
    response = signed_in.post(_action_url(invite), {"action": "new_link", "confirm": "yes"})
    link = response.context["new_link"]
    assert link.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    path = link.removeprefix("http://127.0.0.1:8000")
    assert client.get(path).status_code == 200
    assert client.get(old_page).status_code == 404
    again = signed_in.get(_url(invite))
    assert link.encode() not in again.content
    assert "New link made by rita" in again.content.decode()


def test_no_new_link_for_a_revoked_invite(signed_in, invite):
    invite_revoke(invite=invite)
    before = _state(invite)
    response = signed_in.post(_action_url(invite), {"action": "new_link", "confirm": "yes"}, follow=True)
    assert any("revoked" in m for m in _messages(response))
    assert _state(invite) == before


def test_resending_queues_an_invitation(signed_in, invite, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = signed_in.post(_action_url(invite), {"action": "resend"}, follow=True)
    email = Email.objects.get(invite=invite)
    assert (email.kind, email.to, email.status) == (Email.Kind.INVITATION, invite.candidate.email, Email.Status.QUEUED)
    assert f"The invitation is on its way to {email.to}." in _messages(response)


def test_resending_after_a_clone_warns_that_the_git_password_changes(signed_in, invite):
    fetch_record(invite=invite, address="10.0.0.2")
    response = signed_in.post(_action_url(invite), {"action": "resend"})
    assert b"git password changes" in response.content
    assert not Email.objects.filter(invite=invite).exists()


def test_a_refused_resend_says_why(signed_in, invite):
    invite_submit(invite=invite)
    response = signed_in.post(_action_url(invite), {"action": "resend"}, follow=True)
    assert any("already submitted" in m and m.endswith("Nothing was changed.") for m in _messages(response))
    assert not Email.objects.filter(invite=invite).exists()


def test_a_failed_email_shows_its_error_and_can_be_retried(signed_in, invite):
    email = Email.objects.create(
        invite=invite,
        kind=Email.Kind.INVITATION,
        to="ann@example.com",
        status="failed",
        error="SMTPRecipientsRefused: no such user",
    )
    page = signed_in.get(_url(invite)).content.decode()
    assert "SMTPRecipientsRefused: no such user" in page
    assert f'name="email" value="{email.pk}"' in page
    response = signed_in.post(_action_url(invite), {"action": "retry_email", "email": str(email.pk)}, follow=True)
    assert Email.objects.get(pk=email.pk).status == Email.Status.QUEUED
    assert "Sending the email to ann@example.com again." in _messages(response)


@pytest.mark.parametrize("email_id", ["", "x", "999999", "-1"])
def test_retrying_an_unknown_email_is_refused(signed_in, invite, email_id):
    response = signed_in.post(_action_url(invite), {"action": "retry_email", "email": email_id}, follow=True)
    assert "There is no such email for this invite. Nothing was changed." in _messages(response)


def test_an_email_of_another_invite_or_not_failed_cannot_be_retried(signed_in, invite, assessment_version):
    other = make_invite(assessment_version).invite
    theirs = Email.objects.create(invite=other, kind=Email.Kind.INVITATION, to="bo@example.com", status="failed")
    sent = Email.objects.create(invite=invite, kind=Email.Kind.INVITATION, to="ann@example.com", status="sent")
    signed_in.post(_action_url(invite), {"action": "retry_email", "email": str(theirs.pk)})
    response = signed_in.post(_action_url(invite), {"action": "retry_email", "email": str(sent.pk)}, follow=True)
    assert any("Only a failed email can be sent again" in m for m in _messages(response))
    assert Email.objects.get(pk=theirs.pk).status == Email.Status.FAILED
    assert Email.objects.get(pk=sent.pk).status == Email.Status.SENT
