"""One truth for stage and score: the dashboard's rows and counts, the invite's page, the pictures
and the CSV export read an invite's stage from portal.pipeline.selectors, so no page contradicts another.

A case per contradiction once seen: "Scored" beside "Not scored yet" for an expired invite with
nothing pushed; the pictures' funnel saying "Scored 1" above "No invite of this assessment is scored
yet"; the Expired count dropping to 0 when the close task submits; the very first invitation logged
as a new link replacing an old one.
"""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.invites.emails import email_send, invitation_queue
from portal.invites.models import Event, Invite
from portal.invites.services import event_record, invite_submit, invites_close_expired
from portal.scoring.models import VISIBLE_PENDING, Run
from tests.portal.web.test_dashboard import STATES, _invite, _pushed, _scored
from tests.support.factories import push_branches, store_verdicts

pytestmark = pytest.mark.engines

DASHBOARD = reverse("recruiter_dashboard")
INSIGHTS = reverse("recruiter_insights")
EXPORT = reverse("recruiter_export")


@pytest.fixture
def signed_in(client, recruiter):
    client.force_login(recruiter)
    return client


def _past_deadline(invite):
    Invite.objects.filter(pk=invite.pk).update(deadline=timezone.now() - timedelta(hours=1))
    return invite


def _detail(client, invite) -> str:
    return client.get(reverse("recruiter_invite_detail", args=[invite.public_id])).content.decode()


def _dashboard_stage(client, invite) -> str:
    rows = client.get(DASHBOARD).context["page"].rows
    return next(row.stage for row in rows if row.public_id == invite.public_id)


def _export_stages(client) -> dict[str, str]:
    response = client.get(EXPORT)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    return {row["candidate"]: row["stage"] for row in rows}


def _funnel(client) -> dict[str, int]:
    response = client.get(INSIGHTS)
    return dict(response.context["funnel"]) | dict(response.context["left"])


# Every page says the same stage.


@pytest.mark.parametrize("stage", list(STATES))
def test_the_dashboard_the_invite_page_and_the_export_give_the_same_stage(signed_in, assessment_version, stage):
    invite = STATES[stage](_invite(assessment_version, name=f"Ann {stage}"))
    assert _dashboard_stage(signed_in, invite) == stage
    assert f'data-stage="{stage}"' in _detail(signed_in, invite)
    assert _export_stages(signed_in) == {f"Ann {stage}": stage}
    funnel = _funnel(signed_in)
    assert funnel.get(stage.capitalize(), 0) >= 1


# An expired invite with nothing pushed: never "Scored" beside "Not scored yet".


def test_an_expired_invite_with_nothing_pushed_stays_expired_after_the_close_task_and_is_never_scored(
    signed_in, assessment_version
):
    invite = _past_deadline(_invite(assessment_version))
    counts_before = signed_in.get(DASHBOARD).context["counts"]
    assert [i.pk for i in invites_close_expired()] == [invite.pk]
    assert Invite.objects.get(pk=invite.pk).status == Invite.Status.SUBMITTED
    counts_after = signed_in.get(DASHBOARD).context["counts"]
    assert counts_before == counts_after
    assert counts_after["expired"] == 1
    assert counts_after["scored"] == 0
    page = _detail(signed_in, invite)
    assert 'data-stage="expired"' in page
    assert "Scored" not in page
    assert "Nothing was pushed before time ran out, so there is nothing to score." in page
    assert "Time ran out with nothing pushed: closed automatically" in page
    assert _export_stages(signed_in) == {"Ann Example": "expired"}


def test_the_close_task_moves_no_count_for_an_invite_that_pushed_work_before_its_time_ran_out(
    signed_in, assessment_version
):
    invite = _pushed(_invite(assessment_version))
    store_verdicts(invite)
    # The deadline passed just after the push.
    pushed_at = invite.events.get(kind=Event.Kind.PUSHED).at
    Invite.objects.filter(pk=invite.pk).update(deadline=pushed_at + timedelta(milliseconds=1))
    counts_before = signed_in.get(DASHBOARD).context["counts"]
    assert counts_before["scored"] == 1  # the work pushed by the deadline is the submission
    invites_close_expired()
    counts_after = signed_in.get(DASHBOARD).context["counts"]
    assert counts_after == counts_before
    assert sum(counts_after.values()) == 1
    page = _detail(signed_in, invite)
    assert 'data-stage="scored"' in page
    assert "15 / 100" in page
    assert "Time ran out: the work pushed by then was submitted automatically" in page
    assert "(when time ran out)" in page


def test_a_submitted_invite_still_being_scored_is_submitted_and_says_scoring_is_in_progress(
    signed_in, assessment_version
):
    invite = invite_submit(invite=_pushed(_invite(assessment_version)))  # its runs are still queued
    assert _dashboard_stage(signed_in, invite) == "submitted"
    page = _detail(signed_in, invite)
    assert 'data-stage="submitted"' in page
    assert "Not scored yet: scoring is in progress." in page
    assert "Scored" not in page


def test_an_invite_whose_visible_tests_are_still_to_run_is_not_scored_until_they_are(signed_in, assessment_version):
    # The verdict is in, the candidate's own tests run after it: the invite's page says scoring is
    # in progress, so the dashboard, its counts and the export do not say "scored" yet either.
    invite = _scored(_invite(assessment_version))
    finished = Run.objects.filter(invite=invite, status__in=Run.FINISHED)
    done = {run.pk: run.visible for run in finished}
    finished.update(visible={"state": VISIBLE_PENDING, "worker": "", "since": timezone.now().isoformat()})
    assert _dashboard_stage(signed_in, invite) == "submitted"
    assert signed_in.get(DASHBOARD).context["counts"]["scored"] == 0
    assert 'data-stage="submitted"' in _detail(signed_in, invite)
    assert _export_stages(signed_in) == {"Ann Example": "submitted"}
    for pk, visible in done.items():
        Run.objects.filter(pk=pk).update(visible=visible)
    assert _dashboard_stage(signed_in, invite) == "scored"


def test_a_candidate_who_submits_with_nothing_pushed_is_submitted_not_expired(signed_in, assessment_version):
    invite = invite_submit(invite=_invite(assessment_version))
    assert _dashboard_stage(signed_in, invite) == "submitted"
    assert "Submitted with nothing pushed, so there is nothing to score." in _detail(signed_in, invite)


# The pictures: the funnel's "Scored" and the scores below it are the same invites.


def test_the_funnel_and_the_scores_count_the_same_scored_invites(signed_in, assessment_version):
    STATES["scored"](_invite(assessment_version, name="Ann"))
    invite_submit(invite=_pushed(_invite(assessment_version, name="Bo")))  # submitted, not scored yet
    _past_deadline(_invite(assessment_version, name="Cy"))
    invites_close_expired()  # Cy: expired with nothing pushed, submitted by the close task
    response = signed_in.get(INSIGHTS)
    funnel = dict(response.context["funnel"])
    assert funnel["Scored"] == 1
    assert response.context["scored"] == 1
    assert sum(n for _, n in response.context["buckets"]) == 1
    assert dict(response.context["left"])["Expired"] == 1
    assert b"is scored yet" not in response.content


def test_a_reviewed_invite_with_nothing_scored_is_counted_in_the_funnel_and_said_to_have_no_points(
    signed_in, assessment_version
):
    invite = invite_submit(invite=_invite(assessment_version))
    event_record(invite=invite, kind=Event.Kind.REVIEWED)
    response = signed_in.get(INSIGHTS)
    assert dict(response.context["funnel"])["Scored"] == 1
    text = response.content.decode()
    assert "No invite of this assessment is scored yet" not in text
    assert "1 invite reached the stage scored; 1 of them has no points to draw" in text


def test_with_nothing_scored_the_funnel_and_the_scores_both_say_none(signed_in, assessment_version):
    invite_submit(invite=_pushed(_invite(assessment_version)))
    response = signed_in.get(INSIGHTS)
    assert dict(response.context["funnel"])["Scored"] == 0
    assert b"No invite of this assessment is scored yet." in response.content


# The timeline: the first invitation is sent; only a real re-issue is a new link.


def _send_invitation(invite, **kwargs):
    email = invitation_queue(invite=invite, **kwargs)
    return email_send(email_id=email.pk)


def _timeline(client, invite) -> list[str]:
    response = client.get(reverse("recruiter_invite_detail", args=[invite.public_id]))
    return [sentence for _, sentence in response.context["timeline"]]


def test_the_first_invitation_reads_as_sent_and_a_resend_as_a_new_link(
    signed_in, recruiter, assessment_version, mailoutbox
):
    invite = _invite(assessment_version)
    _send_invitation(invite, by=recruiter)
    to = invite.candidate.email
    assert _timeline(signed_in, invite) == ["Invited", f"Invitation sent to {to}"]

    _send_invitation(invite, by=recruiter, resend=True)
    assert _timeline(signed_in, invite) == [
        "Invited",
        f"Invitation sent to {to}",
        f"Invitation sent again to {to} with a new link; the old link and git password stopped working",
    ]
    assert "New link made" not in _detail(signed_in, invite)
    assert len(mailoutbox) == 2


def test_a_link_made_on_the_page_reads_as_a_new_link(signed_in, recruiter, assessment_version, mailoutbox):
    invite = _invite(assessment_version)
    _send_invitation(invite, by=recruiter)
    action = reverse("recruiter_invite_action", args=[invite.public_id])
    signed_in.post(action, {"action": "new_link", "confirm": "yes"})
    assert _timeline(signed_in, invite) == [
        "Invited",
        f"Invitation sent to {invite.candidate.email}",
        f"New link made by {recruiter.get_username()}; the old link and git password stopped working",
    ]


def test_scored_runs_read_per_ticket_and_the_portals_own_refs_never_show(signed_in, assessment_version):
    invite = _invite(assessment_version)
    push_branches(invite, 2)
    store_verdicts(invite)  # ticket 1 passes; the analysis also scored the two branches together
    runs = list(Run.objects.filter(invite=invite))
    assert any(run.ref.startswith("refs/portal/") for run in runs)
    for run in runs:  # as the worker records the end of each run
        data = {"run": run.pk, "commit": run.commit, "ref": run.ref, "status": run.status}
        event_record(invite=invite, kind=Event.Kind.SCORED, data=data)
    issue_1 = next(run for run in runs if run.ref == "refs/heads/issue-1")
    sentences = _timeline(signed_in, invite)
    assert f"Scored issue-1 ({issue_1.commit[:7]}): fixes #1" in sentences
    assert any(s.startswith("Scored all branches together (") for s in sentences)
    page = _detail(signed_in, invite)
    assert "refs/portal" not in page
    assert "Scored issue-1 (" + issue_1.commit[:7] + "): failed" not in page
