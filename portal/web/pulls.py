"""Pull request pages: the candidate opens and edits them; reviewers read them.

The candidate's views are reached through their invite link (``candidate_link``): a pull request
is always looked up within the link's invite, so one invite's link never reaches another's.
Writes go through portal.hosting.pulls; a refusal is shown on the form with what was typed.
"""

import functools

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.accounts.decorators import role_required
from portal.accounts.roles import REVIEWER
from portal.core.markdown import markdown_html
from portal.hosting.pulls import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    PullRequestRefused,
    branches_without_pull,
    invite_pull,
    invite_pulls,
    pull_commits,
    pull_diff,
    pull_head,
    pull_open,
    pull_refusal,
    pull_tickets,
    pull_update,
)
from portal.invites.models import Invite
from portal.reviews.blind import blind_response
from portal.reviews.selectors import reviewer_allowed
from portal.web.views import candidate_link

LIMITS = {"title_max": TITLE_MAX, "description_max": DESCRIPTION_MAX}


def pull_review(pull) -> dict:
    """What a page shows of one pull request: the row, its description rendered, tickets, commits and diff."""
    head = pull_head(pull)
    return {
        "pull": pull,
        "description_html": markdown_html(pull.description),
        "tickets": pull_tickets(pull),
        "head": head,
        "commits": pull_commits(pull, head=head),
        "diff": pull_diff(pull, head=head),
    }


def _list_page(request, invite: Invite, token: str, *, form: dict | None = None, error: str = "", status: int = 200):
    context = {
        "invite": invite,
        "token": token,
        "pulls": invite_pulls(invite=invite),
        "closed": pull_refusal(invite=invite, now=timezone.now()),
        "branches": branches_without_pull(invite=invite),
        "form": form or {},
        "error": error,
        **LIMITS,
    }
    return render(request, "pulls/pull_list.html", context, status=status)


def candidate_pull_link(view):
    """``candidate_link`` for a view of one pull request: the view gets the invite and the pull
    request, looked up by number within that invite only (404 otherwise)."""

    @functools.wraps(view)
    def wrapper(request, token: str, number: int):
        @candidate_link
        def with_invite(request, invite: Invite, token: str):
            pull = invite_pull(invite=invite, number=number)
            if pull is None:
                raise Http404("No such pull request.")
            return view(request, invite, token, pull)

        return with_invite(request, token)

    return wrapper


@never_cache
@require_GET
@candidate_link
def pull_list(request, invite: Invite, token: str):
    return _list_page(request, invite, token)


@never_cache
@require_POST
@candidate_link
def pull_new(request, invite: Invite, token: str):
    form = {key: request.POST.get(key, "") for key in ("branch", "title", "description")}
    try:
        pull = pull_open(invite=invite, **form)
    except PullRequestRefused as refused:
        return _list_page(request, invite, token, form=form, error=str(refused), status=400)
    return redirect("pull_detail", token=token, number=pull.number)


@never_cache
@require_GET
@candidate_pull_link
def pull_detail(request, invite: Invite, token: str, pull):
    context = {"invite": invite, "token": token, "closed": pull_refusal(invite=invite), **pull_review(pull)}
    return render(request, "pulls/pull_detail.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
@candidate_pull_link
def pull_edit(request, invite: Invite, token: str, pull):
    """Edit the title and description; refused, with the reason, once the invite is closed."""
    context = {"invite": invite, "token": token, "pull": pull, **LIMITS}
    closed = pull_refusal(invite=invite)
    if closed:
        return render(request, "pulls/pull_edit.html", {**context, "closed": closed}, status=403)
    form = {"title": pull.title, "description": pull.description}
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in ("title", "description")}
        try:
            pull_update(pull=pull, **form)
        except PullRequestRefused as refused:
            context.update(form=form, error=str(refused))
            return render(request, "pulls/pull_edit.html", context, status=400)
        return redirect("pull_detail", token=token, number=pull.number)
    return render(request, "pulls/pull_edit.html", {**context, "form": form})


# The reviewer's side: read only.


@never_cache
@require_GET
@role_required(REVIEWER)
def invite_pulls_review(request, public_id: str):
    invite = get_object_or_404(
        Invite.objects.select_related("candidate", "assessment_version__assessment"), public_id=public_id
    )
    if not reviewer_allowed(user=request.user, assessment=invite.assessment_version.assessment):
        raise PermissionDenied("This assessment names its reviewers, and you are not one of them.")
    reviews = [pull_review(pull) for pull in invite_pulls(invite=invite).select_related("invite__assessment_version")]
    response = render(request, "pulls/invite_pulls_review.html", {"invite": invite, "reviews": reviews})
    # These commits are read now, not from the stored evidence: their authors are hidden too.
    shown = {(c.author, c.author_email) for review in reviews for c in review["commits"].commits}
    shown |= {(c.committer, c.committer_email) for review in reviews for c in review["commits"].commits}
    return blind_response(response, [invite], extra={invite.pk: shown})
