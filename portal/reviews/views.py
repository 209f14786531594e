"""The reviewer's pages: the queue, the review form, assigning reviewers, calibration, comments on the
diff and the feedback released to the candidate."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.accounts.decorators import role_required
from portal.accounts.roles import RECRUITER, REVIEWER
from portal.assessments.models import Assessment
from portal.invites.models import Invite
from portal.reviews.blind import blind_response, shown_name
from portal.reviews.models import Review, ReviewComment, Rubric
from portal.reviews.report import report_context, report_similarity
from portal.reviews.selectors import (
    QUEUE_ORDERS,
    QUEUE_VIEWS,
    assessments_reviewable,
    calibration,
    feedback_panel,
    invite_assignees,
    may_release_feedback,
    queue_default_view,
    review_aggregate,
    review_of,
    review_queue_page,
    reviewer_allowed,
    reviewers_allowed,
    rubric_suggestions,
    sees_all_reviews,
)
from portal.reviews.services import (
    ReviewRefused,
    assignment_drop,
    assignment_make,
    assignment_take,
    comment_add,
    comment_delete,
    feedback_release,
    review_save,
    rubric_current,
)


def _invite(public_id: str) -> Invite:
    return get_object_or_404(
        Invite.objects.select_related("candidate", "assessment_version__assessment"), public_id=public_id
    )


def _may_assign(user) -> bool:
    return user.is_staff or user.has_perm(RECRUITER.permission)


def _back(request, invite: Invite):
    """Back where the form was posted from (the queue or the review page), never to another site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("review_form", public_id=invite.public_id)


@require_GET
@role_required(REVIEWER)
def queue(request):
    view = request.GET.get("view") or queue_default_view(user=request.user)
    if view not in QUEUE_VIEWS:
        view = "mine"
    assessments = assessments_reviewable(user=request.user)
    chosen = next((a for a in assessments if str(a.pk) == request.GET.get("assessment")), None)
    order = request.GET.get("order") if request.GET.get("order") in QUEUE_ORDERS else "waiting"
    page = review_queue_page(
        user=request.user, view=view, assessment=chosen, page=request.GET.get("page", 1), order=order
    )
    items = page.items
    may_assign = _may_assign(request.user)
    choices = {a.pk: reviewers_allowed(assessment=a) for a in assessments} if may_assign else {}
    context = {
        "rows": [(item, choices.get(item.invite.assessment_version.assessment_id, [])) for item in items],
        "view": view,
        "views": [(v, v.capitalize()) for v in QUEUE_VIEWS],
        "assessments": assessments,
        "chosen": chosen,
        "may_assign": may_assign,
        "page": page,
        "order": order,
        "orders": [("waiting", "Longest waiting first"), ("newest", "Newest first")],
        "query": urlencode(
            {k: v for k, v in {"view": view, "assessment": chosen.pk if chosen else "", "order": order}.items() if v}
        ),
        "filters": urlencode({k: v for k, v in {"view": view, "assessment": chosen.pk if chosen else ""}.items() if v}),
    }
    return blind_response(render(request, "reviews/queue.html", context), [item.invite for item in items])


@require_http_methods(["GET", "POST"])
@login_required
def review_form(request, public_id: str):
    """A reviewer's rubric for one invite; recruiters see the submitted reviews and assign reviewers here."""
    invite = _invite(public_id)
    user = request.user
    assessment = invite.assessment_version.assessment
    may_review = reviewer_allowed(user=user, assessment=assessment)
    may_assign = _may_assign(user)
    if not may_review and not may_assign:
        if user.has_perm(REVIEWER.permission):
            raise PermissionDenied("You may not review this assessment.")
        raise PermissionDenied("This page is for the Reviewer role.")
    if request.method == "POST":
        if not may_review:
            raise PermissionDenied("You may not review this assessment.")
        return _review_post(request, invite)
    return _review_page(request, invite)


def _review_page(request, invite: Invite, *, release: dict | None = None, status: int = 200):
    """The review form beside the evidence; ``release`` holds a refused feedback form, as it was typed."""
    user = request.user
    assessment = invite.assessment_version.assessment
    may_review = reviewer_allowed(user=user, assessment=assessment)
    may_assign = _may_assign(user)
    review = review_of(invite=invite, reviewer=user) if may_review else None
    rubric = review.rubric if review else rubric_current(assessment) if may_review else None
    suggestions = rubric_suggestions(invite=invite) if rubric and not (review and review.submitted) else {}
    context = {
        "invite": invite,
        "review": review,
        "may_review": may_review and invite.status == Invite.Status.SUBMITTED,
        "criteria": _criteria_rows(rubric, review, suggestions) if rubric else [],
        "recommendations": Review.Recommendation.choices,
        "aggregate": review_aggregate(invite=invite, for_user=user),
        "sees_all": sees_all_reviews(user),
        "assignees": invite_assignees(invite=invite),
        "may_assign": may_assign,
        "reviewers": reviewers_allowed(assessment=assessment) if may_assign else [],
        "feedback": feedback_panel(invite=invite, user=user),
        "release": release or {},
        # The evidence beside the rubric, for those who may read the report.
        "evidence_shown": may_review,
    }
    others = []
    if may_review:
        context |= report_context(request, invite)
        # The closest match only, in a line beside the rubric: the passages are on the report.
        context["similarity"] = similarity = report_similarity(request, invite, limit=1)
        others = similarity.others
    response = render(request, "reviews/review_form.html", context, status=status)
    return blind_response(response, [invite, *others])


def _criteria_rows(rubric, review, suggestions) -> list[dict]:
    scores = review.scores if review else {}
    comments = review.comments if review else {}
    return [
        {
            "key": c["key"],
            "title": c["title"],
            "question": c["question"],
            "levels": [(level, c["levels"][level]) for level in ("1", "2", "3", "4")],
            "chosen": str(scores.get(c["key"], "")),
            "comment": comments.get(c["key"], ""),
            "suggestion": suggestions.get(c["key"]),
        }
        for c in rubric.criteria
    ]


def _review_post(request, invite: Invite):
    review = review_of(invite=invite, reviewer=request.user)
    rubric = review.rubric if review else rubric_current(invite.assessment_version.assessment)
    keys = rubric.keys
    scores = {key: request.POST.get(f"score_{key}", "") for key in keys}
    comments = {key: request.POST.get(f"comment_{key}", "") for key in keys}
    # Fields for criteria this rubric does not have are refused, not ignored: a forged form says so.
    for name in request.POST:
        if name.startswith(("score_", "comment_")) and name.split("_", 1)[1] not in keys:
            scores[name.split("_", 1)[1]] = request.POST[name]
    submit = "submit" in request.POST
    confirmed = request.POST.get("confirm") == "yes"
    try:
        review_save(
            invite=invite,
            reviewer=request.user,
            scores=scores,
            comments=comments,
            recommendation=request.POST.get("recommendation", ""),
            summary=request.POST.get("summary", ""),
            submit=submit and confirmed,
        )
    except ReviewRefused as refused:
        messages.error(request, str(refused))
    else:
        if submit and not confirmed:
            messages.error(request, "Your draft was saved. To submit, confirm that you have finished.")
        else:
            messages.success(request, "Your review was submitted." if submit else "Your draft was saved.")
    return redirect("review_form", public_id=invite.public_id)


@require_POST
@role_required(REVIEWER)
def review_take(request, public_id: str):
    invite = _invite(public_id)
    try:
        assignment_take(invite=invite, user=request.user)
    except ReviewRefused as refused:
        messages.error(request, str(refused))
    else:
        # The message waits in the session for the next page, which may not be one that is scrubbed.
        messages.success(request, f"{shown_name(invite)} is in your queue.")
    return _back(request, invite)


@require_POST
@login_required
def review_assign(request, public_id: str):
    """A recruiter assigns a reviewer (``reviewer``: a user id) or removes one (``drop``)."""
    if not _may_assign(request.user):
        raise PermissionDenied("This page is for the Recruiter role.")
    invite = _invite(public_id)
    User = get_user_model()
    reviewer = User.objects.filter(pk=request.POST.get("reviewer") or 0).first() if _digits(request) else None
    if reviewer is None:
        messages.error(request, "Choose a reviewer from the list.")
        return _back(request, invite)
    try:
        if "drop" in request.POST:
            assignment_drop(invite=invite, reviewer=reviewer, by=request.user)
            messages.success(request, f"{reviewer.get_username()} no longer reviews {invite.candidate.name}.")
        else:
            assignment_make(invite=invite, reviewer=reviewer, by=request.user)
            messages.success(request, f"{reviewer.get_username()} was asked to review {invite.candidate.name}.")
    except ReviewRefused as refused:
        messages.error(request, str(refused))
    return _back(request, invite)


def _digits(request) -> bool:
    value = request.POST.get("reviewer", "")
    return value.isascii() and value.isdigit() and len(value) < 12


@require_GET
@login_required
def review_calibration(request):
    if not _may_assign(request.user):
        raise PermissionDenied("This page is for recruiters and administrators.")
    assessments = list(Assessment.objects.filter(rubrics__isnull=False).distinct().order_by("title"))
    chosen = next((a for a in assessments if str(a.pk) == request.GET.get("assessment")), None)
    rows = calibration(assessment=chosen)
    # Criteria are keys in reviews; their titles come from the rubrics (the latest version's wins).
    rubrics = Rubric.objects.filter(assessment=chosen) if chosen else Rubric.objects.all()
    titles = {
        c["key"]: c["title"]
        for criteria in rubrics.order_by("version").values_list("criteria", flat=True)
        for c in criteria
    }
    by_criterion: dict[str, list] = {}
    for row in rows:
        by_criterion.setdefault(titles.get(row.criterion, row.criterion), []).append(row)
    context = {"by_criterion": by_criterion, "assessments": assessments, "chosen": chosen}
    return render(request, "reviews/calibration.html", context)


# --- Comments on the diff and the feedback ---------------------------------------------


def _report(invite: Invite, anchor: str = "diffs"):
    return redirect(reverse("invite_result", args=[invite.public_id]) + f"#{anchor}")


@require_POST
@role_required(REVIEWER)
def review_comment_add(request, public_id: str):
    """A comment on one diff line of the report; back to the report, at the comment."""
    invite = _invite(public_id)
    if not reviewer_allowed(user=request.user, assessment=invite.assessment_version.assessment):
        raise PermissionDenied("You may not review this assessment.")
    post = request.POST
    try:
        comment = comment_add(
            invite=invite,
            author=request.user,
            commit=post.get("commit", ""),
            branch=post.get("branch", ""),
            path=post.get("path", ""),
            side=post.get("side", ""),
            line=post.get("line", ""),
            body=post.get("body", ""),
            shared=post.get("shared") == "yes",
        )
    except ReviewRefused as refused:
        messages.error(request, str(refused))
        return _report(invite)
    messages.success(request, "Your comment was shared." if comment.shared else "Your comment was saved.")
    return _report(invite, f"comment-{comment.pk}")


@require_POST
@role_required(REVIEWER)
def review_comment_delete(request, public_id: str, comment_id: int):
    invite = _invite(public_id)
    comment = get_object_or_404(ReviewComment, pk=comment_id, invite=invite)
    try:
        comment_delete(comment=comment, user=request.user)
    except ReviewRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, "Your comment was deleted.")
    return _report(invite)


@require_POST
@login_required
def review_feedback_release(request, public_id: str):
    """Release the feedback (summary and shared comments) to the candidate, once confirmed.

    A refusal shows the review page again with the error beside the form and what was typed kept.
    """
    invite = _invite(public_id)
    if not may_release_feedback(user=request.user, invite=invite):
        raise PermissionDenied("Only the assessment's reviewers and recruiters release feedback.")
    summary = request.POST.get("summary", "")
    without_summary = request.POST.get("without_summary") == "yes"
    release = {"summary": summary, "without_summary": without_summary}
    if request.POST.get("confirm") != "yes":
        release["error"] = "Nothing was released: confirm that the candidate may read this feedback."
        return _review_page(request, invite, release=release, status=400)
    try:
        feedback_release(invite=invite, by=request.user, summary=summary, without_summary=without_summary)
    except ReviewRefused as refused:
        release["error"] = str(refused)
        return _review_page(request, invite, release=release, status=400)
    messages.success(
        request, "The feedback was released: the candidate can read it on their page, and is emailed a link to it."
    )
    return redirect(reverse("review_form", args=[invite.public_id]) + "#feedback-heading")
