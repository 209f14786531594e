"""The reviewer's confirm or overturn of a contested ticket (portal.reviews.contested), from the report."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.accounts.decorators import role_required
from portal.accounts.roles import REVIEWER
from portal.invites.models import Invite
from portal.reviews.contested import ContestError, contest_decide
from portal.reviews.selectors import reviewer_allowed
from portal.scoring.models import ContestDecision


@require_POST
@role_required(REVIEWER)
def contest_decide_view(request, public_id: str, ticket: int):
    invite = get_object_or_404(Invite.objects.select_related("assessment_version__assessment"), public_id=public_id)
    if not reviewer_allowed(user=request.user, assessment=invite.assessment_version.assessment):
        raise PermissionDenied("This assessment names its reviewers, and you are not one of them.")
    decision = request.POST.get("decision", "")
    try:
        contest_decide(
            invite=invite,
            ticket=ticket,
            head=request.POST.get("head", ""),
            decision=decision,
            user=request.user,
            note=request.POST.get("note", ""),
        )
    except ContestError as error:
        messages.error(request, str(error))
    else:
        label = (
            "confirmed: its points count" if decision == ContestDecision.Decision.CONFIRMED else "overturned: no points"
        )
        messages.success(request, f"Ticket #{ticket} {label}.")
    return redirect(f"{reverse('invite_result', args=[invite.public_id])}#contested-{ticket}")
