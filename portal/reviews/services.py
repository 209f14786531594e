"""Writing reviews: rubrics, assignments, saving and submitting a review, and reviewers' mail.

Every refusal is a ``ReviewRefused`` whose message is a sentence a page can show as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from portal.accounts.roles import RECRUITER
from portal.assessments.models import Assessment
from portal.core.dispatch import send_on_commit
from portal.invites.models import Event, Invite
from portal.invites.services import event_record
from portal.reviews.blind import shown_name
from portal.reviews.emails import feedback_email_queue
from portal.reviews.models import LEVELS, Assignment, Feedback, Review, ReviewComment, Rubric, criteria_errors
from portal.reviews.rubrics import DEFAULT_CRITERIA
from portal.reviews.selectors import (
    diff_line,
    invite_closed,
    may_release_feedback,
    open_assignments_by_reviewer,
    reviewer_allowed,
    rubric_latest,
)
from portal.scoring.models import BranchEvidence

MAX_COMMENT = 5_000
MAX_SUMMARY = 10_000


class ReviewRefused(ValueError):
    pass


class ReviewIncomplete(ReviewRefused):
    """Submitting asked for, refused because something is missing; the draft was saved."""


# --- Rubrics -------------------------------------------------------------------


def rubric_current(assessment: Assessment) -> Rubric:
    """The assessment's newest rubric; the default one, as version 1, if it has none yet."""
    rubric = rubric_latest(assessment=assessment)
    if rubric is not None:
        return rubric
    try:
        with transaction.atomic():
            return Rubric.objects.create(assessment=assessment, version=1, criteria=DEFAULT_CRITERIA)
    except IntegrityError:  # created at the same moment by another request
        return rubric_latest(assessment=assessment)


@transaction.atomic
def rubric_create(*, assessment: Assessment, criteria: list) -> Rubric:
    """Store ``criteria`` as the assessment's next rubric version; earlier reviews keep theirs."""
    errors = criteria_errors(criteria)
    if errors:
        raise ReviewRefused(" ".join(errors))
    Assessment.objects.select_for_update().filter(pk=assessment.pk).first()
    latest = Rubric.objects.filter(assessment=assessment).aggregate(v=Max("version"))["v"] or 0
    return Rubric.objects.create(assessment=assessment, version=latest + 1, criteria=criteria)


# --- Assignments -----------------------------------------------------------------


def _refuse_unless_reviewable(*, invite: Invite, user, who: str = "You") -> None:
    if invite.status != Invite.Status.SUBMITTED:
        raise ReviewRefused("Only submitted work can be reviewed.")
    if not reviewer_allowed(user=user, assessment=invite.assessment_version.assessment):
        if who == "You":
            raise ReviewRefused("You may not review this assessment.")
        raise ReviewRefused(f"{who} may not review this assessment.")


@transaction.atomic
def assignment_take(*, invite: Invite, user) -> Assignment:
    """The reviewer takes the invite for themselves (nothing happens if they already have it)."""
    _refuse_unless_reviewable(invite=invite, user=user)
    assignment, _ = Assignment.objects.get_or_create(invite=invite, reviewer=user, defaults={"assigned_by": user})
    return assignment


@transaction.atomic
def assignment_make(*, invite: Invite, reviewer, by) -> Assignment:
    """A recruiter asks a reviewer to review the invite; the reviewer is told by mail."""
    if not (by.is_staff or by.has_perm(RECRUITER.permission)):
        raise ReviewRefused("Only recruiters assign reviewers.")
    _refuse_unless_reviewable(invite=invite, user=reviewer, who=reviewer.get_username())
    assignment, created = Assignment.objects.get_or_create(
        invite=invite, reviewer=reviewer, defaults={"assigned_by": by}
    )
    if created and reviewer != by:
        send_on_commit("reviews.notify_assigned", assignment_id=assignment.pk)
    return assignment


@transaction.atomic
def assignment_drop(*, invite: Invite, reviewer, by) -> bool:
    """Remove the reviewer from the invite: themselves, or anyone by a recruiter. Their review stays."""
    if by != reviewer and not (by.is_staff or by.has_perm(RECRUITER.permission)):
        raise ReviewRefused("Only recruiters remove other reviewers.")
    deleted, _ = Assignment.objects.filter(invite=invite, reviewer=reviewer).delete()
    return bool(deleted)


# --- Reviews ---------------------------------------------------------------------


def review_save(
    *,
    invite: Invite,
    reviewer,
    scores: dict,
    comments: dict,
    recommendation: str,
    summary: str,
    submit: bool,
) -> Review:
    """Save the reviewer's draft and, with ``submit``, submit it; a submitted review never changes.

    Malformed input (unknown criteria, levels outside 1 to 4, a recommendation that is not one of
    the four, overlong texts) is refused and nothing is saved. A submission with criteria or the
    recommendation missing is saved as a draft and refused with ``ReviewIncomplete``.

    The invite's row is locked first, so two reviewers submitting at the same moment are recorded
    one after the other and exactly one of them records the REVIEWED event.
    """
    missing: list[str] = []
    with transaction.atomic():
        Invite.objects.select_for_update().filter(pk=invite.pk).first()
        _refuse_unless_reviewable(invite=invite, user=reviewer)
        review = Review.objects.select_for_update().filter(invite=invite, reviewer=reviewer).first()
        if review is None:
            rubric = rubric_current(invite.assessment_version.assessment)
            review = Review(invite=invite, reviewer=reviewer, rubric=rubric)
        elif review.submitted:
            raise ReviewRefused(
                f"Your review was submitted on {review.submitted_at:%Y-%m-%d %H:%M} UTC; it can no longer change."
            )
        review.scores = _clean_scores(scores, rubric=review.rubric)
        review.comments = _clean_comments(comments, rubric=review.rubric)
        review.recommendation = _clean_recommendation(recommendation)
        review.summary = _clean_text(summary, limit=MAX_SUMMARY, what="The summary")
        if submit:
            titles = {c["key"]: c["title"] for c in review.rubric.criteria}
            missing = [titles[key] for key in review.rubric.keys if key not in review.scores]
            if not review.recommendation:
                missing.append("the recommendation")
        if submit and not missing:
            review.status = Review.Status.SUBMITTED
            review.submitted_at = timezone.now()
        review.save()
        if review.submitted and not Event.objects.filter(invite=invite, kind=Event.Kind.REVIEWED).exists():
            data = {"reviewer": reviewer.get_username(), "recommendation": review.recommendation}
            event_record(invite=invite, kind=Event.Kind.REVIEWED, data=data)
    if missing:
        raise ReviewIncomplete(f"Your draft was saved. To submit, choose a level for: {', '.join(missing)}.")
    return review


def _clean_scores(scores: object, *, rubric: Rubric) -> dict[str, int]:
    if not isinstance(scores, dict):
        raise ReviewRefused("Scores must be given per criterion.")
    keys = set(rubric.keys)
    clean: dict[str, int] = {}
    for key, value in scores.items():
        if key not in keys:
            raise ReviewRefused(f"There is no criterion {str(key)[:40]!r} in this rubric.")
        if value in (None, ""):
            continue  # not chosen yet: fine in a draft
        level = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(level, str) or level not in LEVELS:
            raise ReviewRefused(f"The level for {key!r} must be 1, 2, 3 or 4.")
        clean[key] = int(level)
    return clean


def _clean_comments(comments: object, *, rubric: Rubric) -> dict[str, str]:
    if not isinstance(comments, dict):
        raise ReviewRefused("Comments must be given per criterion.")
    keys = set(rubric.keys)
    clean: dict[str, str] = {}
    for key, text in comments.items():
        if key not in keys:
            raise ReviewRefused(f"There is no criterion {str(key)[:40]!r} in this rubric.")
        text = _clean_text(text, limit=MAX_COMMENT, what=f"The comment on {key!r}")
        if text:
            clean[key] = text
    return clean


def _clean_recommendation(value: object) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or value not in Review.Recommendation.values:
        raise ReviewRefused("The recommendation must be one of: Strong no, No, Yes, Strong yes.")
    return value


def _clean_text(value: object, *, limit: int, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReviewRefused(f"{what} must be text.")
    value = value.replace("\x00", "").strip()
    if len(value) > limit:
        raise ReviewRefused(f"{what} is {len(value):,} characters long; at most {limit:,} are kept.")
    return value


# --- Mail to reviewers -------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    candidate: str
    assessment: str
    waited: str
    url: str


def _waiting(invite: Invite) -> Waiting:
    now = timezone.now()
    return Waiting(
        # The alias on a blind assessment: a reviewer's inbox is as blind as their pages.
        candidate=shown_name(invite),
        assessment=" ".join(invite.assessment_version.assessment.title.split()),
        waited=timesince(invite.submitted_at, now, depth=1).replace("\xa0", " ") if invite.submitted_at else "",
        url=settings.PORTAL_BASE_URL + reverse("review_form", args=[invite.public_id]),
    )


def _mail(*, template: str, to: str, context: dict) -> None:
    context = {**context, "portal_url": settings.PORTAL_BASE_URL}
    subject = " ".join(render_to_string(f"reviews/email/{template}_subject.txt", context).split())
    body = render_to_string(f"reviews/email/{template}.txt", context).strip() + "\n"
    send_mail(subject, body, None, [to])


def assignment_notify(*, assignment_id: int) -> bool:
    """Tell the reviewer a submitted invite waits for them; False if there is nothing to tell."""
    assignment = (
        Assignment.objects.select_related("reviewer", "invite__candidate", "invite__assessment_version__assessment")
        .filter(pk=assignment_id)
        .first()
    )
    if assignment is None or not assignment.reviewer.email or assignment.invite.status != Invite.Status.SUBMITTED:
        return False
    if Review.objects.filter(invite=assignment.invite, reviewer=assignment.reviewer, status="submitted").exists():
        return False
    _mail(
        template="assigned",
        to=assignment.reviewer.email,
        context={"reviewer": assignment.reviewer, "item": _waiting(assignment.invite)},
    )
    return True


def digest_send() -> int:
    """Mail each reviewer the list of their assigned invites not reviewed yet; returns how many were mailed."""
    sent = 0
    for reviewer, assignments in open_assignments_by_reviewer().items():
        if not reviewer.email:
            continue
        items = [_waiting(a.invite) for a in assignments]
        _mail(template="digest", to=reviewer.email, context={"reviewer": reviewer, "items": items})
        sent += 1
    return sent


# --- Comments on the diff and the candidate's feedback --------------------------------

SHA_LENGTH = 40
MAX_LINE_DIGITS = 9


def comment_add(
    *, invite: Invite, author, commit: str, branch: str, path: str, side: str, line, body: str, shared: bool
) -> ReviewComment:
    """Comment on one line of a branch's changes as stored for ``commit``; shared ones reach the candidate.

    The line must be one the report shows for that commit in the stored evidence: a form that names
    another commit, file or line (forged, or from a page older than the evidence) stores nothing.
    """
    if not reviewer_allowed(user=author, assessment=invite.assessment_version.assessment):
        raise ReviewRefused("You may not review this assessment.")
    text = _clean_text(body, limit=MAX_COMMENT, what="The comment")
    if not text:
        raise ReviewRefused("The comment is empty.")
    number = _line_number(line)
    if (
        number is None
        or side not in ReviewComment.Side.values
        or not all(isinstance(value, str) for value in (commit, branch, path))
        or len(commit) != SHA_LENGTH
    ):
        raise ReviewRefused("There is no such line in the changes; the comment was not saved.")
    evidence = BranchEvidence.objects.filter(invite=invite, branch=branch, head=commit).only("diff").first()
    if evidence is None or diff_line(evidence.diff, path=path, side=side, line=number) is None:
        raise ReviewRefused("There is no such line in the changes; the comment was not saved.")
    if shared and Feedback.objects.filter(invite=invite, released_at__isnull=False).exists():
        raise ReviewRefused(
            "The feedback has been released: a comment shared now would never reach the candidate. Keep it private."
        )
    visibility = ReviewComment.Visibility.SHARED if shared else ReviewComment.Visibility.PRIVATE
    return ReviewComment.objects.create(
        invite=invite,
        author=author,
        commit=commit,
        branch=branch,
        path=path,
        side=side,
        line=number,
        body=text,
        visibility=visibility,
    )


def _line_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= MAX_LINE_DIGITS:
        return int(value) or None
    return None


@transaction.atomic
def comment_delete(*, comment: ReviewComment, user) -> None:
    """Delete the user's own comment; once the feedback is released, what it said stays on record."""
    if comment.author_id != user.pk:
        raise ReviewRefused("Only the author of a comment can delete it.")
    if Feedback.objects.filter(invite_id=comment.invite_id, released_at__isnull=False).exists():
        raise ReviewRefused("The feedback has been released; its comments can no longer be deleted.")
    comment.delete()


def feedback_release(*, invite: Invite, by, summary: str, without_summary: bool = False) -> Feedback:
    """Release the summary and the shared comments to the candidate, once; they show on their page,
    and the candidate is emailed a link to it (portal.reviews.emails) once this commits.

    A summary is required, unless ``without_summary`` says the releaser chose to send the shared
    comments alone: a release cannot be undone, so an empty summary is never an accident.

    Only once the assessment is closed for the candidate (submitted, or past its deadline): feedback
    while they can still push would be help, not feedback. The invite's row is locked, so two
    people releasing at the same moment release once.
    """
    text = _clean_text(summary, limit=MAX_SUMMARY, what="The summary")
    with transaction.atomic():
        locked = Invite.objects.select_for_update().select_related("assessment_version__assessment").get(pk=invite.pk)
        if not may_release_feedback(user=by, invite=locked):
            raise ReviewRefused("Only the assessment's reviewers and recruiters release feedback.")
        if not invite_closed(locked):
            raise ReviewRefused(
                "Feedback is released once the assessment is closed for the candidate: submitted, or past its deadline."
            )
        feedback, _ = Feedback.objects.select_for_update().get_or_create(invite=locked)
        if feedback.released_at is not None:
            raise ReviewRefused(
                f"The feedback was released on {feedback.released_at:%Y-%m-%d %H:%M} UTC; it can no longer change."
            )
        shared = ReviewComment.objects.filter(invite=locked, visibility=ReviewComment.Visibility.SHARED)
        if not text and not shared.exists():
            raise ReviewRefused("There is nothing to release: write a summary or share a comment.")
        if not text and not without_summary:
            raise ReviewRefused(
                "Write a summary for the candidate, or tick “Release without a summary” to send the shared "
                "comments alone. Nothing was released."
            )
        feedback.summary = text
        feedback.released_by = by
        feedback.released_at = timezone.now()
        feedback.save()
        data = {"by": by.get_username() if by else None, "with_summary": bool(text)}
        event_record(invite=locked, kind=Event.Kind.FEEDBACK_RELEASED, data=data, at=feedback.released_at)
        feedback_email_queue(feedback=feedback)
    return feedback
