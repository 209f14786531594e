"""What Greenhouse reads: the tests it may send, and a sent test's status in its contract's words.

The status is the pipeline's stage of the invite (portal.pipeline.selectors, the one truth about
where an invite stands), so Greenhouse, the dashboard and the REST API never disagree.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from portal.ats.models import GreenhouseTest
from portal.invites.models import Invite
from portal.pipeline.invitations import inviteable_assessments
from portal.pipeline.selectors import pipeline_row, ticket_verdicts

# The pipeline's stage in Greenhouse's words. Only "complete" means something to Greenhouse (it
# stops asking and shows the score); the others are shown to its users as they are.
STATUS_BY_STAGE = {
    "invited": "not_started",
    "opened": "not_started",
    "cloned": "started",
    "pushed": "started",
    "submitted": "submitted",  # submitted or out of time, still being scored
    "scored": "complete",
    "reviewed": "complete",
    "expired": "expired",  # time ran out with nothing pushed
    "revoked": "cancelled",
}
COMPLETE = "complete"
# Nothing will change these by itself: the completion report is sent for them.
FINAL_STATUSES = frozenset({COMPLETE, "expired", "cancelled"})


def greenhouse_tests() -> list[dict[str, str]]:
    """list_tests: the assessments Greenhouse may send (PORTAL_GREENHOUSE_ASSESSMENTS, or every one
    with a loaded version), each as partner_test_id (its slug) and partner_test_name (its title)."""
    allowed = set(settings.PORTAL_GREENHOUSE_ASSESSMENTS)
    return [
        {"partner_test_id": assessment.slug, "partner_test_name": assessment.title}
        for assessment in inviteable_assessments()
        if not allowed or assessment.slug in allowed
    ]


def greenhouse_test_get(*, partner_interview_id: str) -> GreenhouseTest | None:
    return (
        GreenhouseTest.objects.filter(partner_interview_id=partner_interview_id, invite__isnull=False)
        .select_related("invite__assessment_version__assessment")
        .first()
    )


def greenhouse_test_status(*, test: GreenhouseTest) -> dict:
    """test_status's answer, the four keys of the contract: partner_status, and once complete
    partner_score (percent of points earned), partner_profile_url (the recruiter's page of the
    invite) and flat metadata. Three queries."""
    invite = test.invite
    row = pipeline_row(public_id=invite.public_id)
    status = STATUS_BY_STAGE[row.stage]
    if row.stage == "submitted" and not row.pushed and not row.scoring:
        status = COMPLETE  # submitted with nothing pushed: there is nothing to score, and never will be
    answer: dict = {"partner_status": status}
    metadata: dict = {"Assessment": invite.assessment_version.assessment.title, "Stage": row.stage}
    if invite.started_at:
        metadata["Started at"] = invite.started_at.isoformat()
    if invite.submitted_at:
        metadata["Submitted at"] = invite.submitted_at.isoformat()
    if status == COMPLETE:
        earned, possible = row.earned or 0, row.possible or 0
        percent = round(100 * earned / possible) if possible else 0
        answer["partner_score"] = percent
        answer["partner_profile_url"] = settings.PORTAL_BASE_URL + reverse(
            "recruiter_invite_detail", args=[invite.public_id]
        )
        metadata.update({"Points": earned, "Points possible": possible, "Percent": percent})
        if row.contested:
            metadata["Points awaiting a reviewer"] = row.contested
        tickets = Invite.objects.filter(pk=invite.pk).values_list("analysis__result__tickets", flat=True).first()
        verdicts = ticket_verdicts(tickets)
        if verdicts:
            passed = sum(1 for verdict in verdicts.values() if verdict == "pass")
            metadata["Tickets passed"] = f"{passed} of {len(verdicts)}"
    answer["metadata"] = metadata
    return answer
