"""Contested tickets: a reviewer confirms (the points count) or overturns (no points) a ticket whose
hidden tests pass on its branch while the candidate's own visible tests for it fail on that commit.

The decision is kept per commit (scoring.ContestDecision), so a new push on the branch makes a new
contest that waits again, and it is copied into the stored analysis at once, under the analysis
row's lock (the analysis worker copies decisions in under the same lock before it stores), so the
score, the dashboard, the queue and the exports all count it from the moment it is made.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from portal.invites.models import Invite
from portal.reviews.selectors import reviewer_allowed
from portal.scoring.analysis import contest_decisions, contests_apply
from portal.scoring.models import ContestDecision, InviteAnalysis

DECISIONS = {choice.value for choice in ContestDecision.Decision}


class ContestError(ValueError):
    """A decision that cannot be recorded, in words for the reviewer."""


@transaction.atomic
def contest_decide(*, invite: Invite, ticket: int, head: str, decision: str, user, note: str = "") -> ContestDecision:
    """Record ``user``'s decision on ``ticket``, contested on ``head`` of its branch, and count it.

    Only a reviewer allowed on the invite's assessment decides (PermissionDenied otherwise); the
    ticket must still be contested on that very commit in the stored analysis (a push since moved
    the branch: the new commit is a new contest). Deciding again replaces the earlier decision.
    """
    if not reviewer_allowed(user=user, assessment=invite.assessment_version.assessment):
        raise PermissionDenied("Only reviewers of this assessment decide contested tickets.")
    if decision not in DECISIONS:
        raise ContestError("Choose to confirm or to overturn the ticket; nothing was recorded.")
    note = note.strip()
    if len(note) > ContestDecision.NOTE_MAX:
        raise ContestError(f"The note is longer than {ContestDecision.NOTE_MAX} characters; nothing was recorded.")
    analysis = InviteAnalysis.objects.select_for_update().filter(invite=invite, computed_at__isnull=False).first()
    entry = next(
        (t for t in (analysis.result.get("tickets", []) if analysis else []) if t.get("number") == ticket), None
    )
    contested = (entry or {}).get("contested") if (entry or {}).get("passed") else None
    if not contested:
        raise ContestError(f"Ticket #{ticket} is not contested; nothing was recorded.")
    if contested.get("head") != head:
        raise ContestError(
            f"Ticket #{ticket} is now contested on another commit of {contested.get('branch')}: "
            "a newer push moved the branch. Look at the new evidence and decide again."
        )
    row, _ = ContestDecision.objects.update_or_create(
        invite=invite,
        ticket=ticket,
        commit=head,
        defaults={
            "run_id": contested.get("run"),
            "decision": decision,
            "decided_by": user,
            "decided_at": timezone.now(),
            "note": note,
        },
    )
    result = contests_apply(analysis.result, contest_decisions(invite_id=invite.pk))
    InviteAnalysis.objects.filter(pk=analysis.pk).update(result=result)
    return row
