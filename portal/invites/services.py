from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.assessments.models import AssessmentVersion
from portal.core.dispatch import send_on_commit
from portal.invites.hooks import event_recorded
from portal.invites.models import Candidate, Event, Invite
from portal.invites.tokens import git_token_for, new_public_id, new_token, token_hash


@dataclass(frozen=True)
class InviteCreated:
    """The new invite and its secrets, which exist in clear only here."""

    invite: Invite
    link_token: str
    git_token: str


def event_record(*, invite: Invite, kind: str, data: dict | None = None, at: datetime | None = None) -> Event:
    event = Event.objects.create(invite=invite, kind=kind, data=data or {}, at=at or timezone.now())
    event_recorded(event=event)
    return event


@transaction.atomic
def candidate_get_or_create(*, name: str, email: str, created_by=None) -> Candidate:
    candidate = Candidate.objects.filter(email__iexact=email).first()
    if candidate is None:
        candidate = Candidate.objects.create(name=name, email=email, created_by=created_by)
    return candidate


@transaction.atomic
def invite_create(
    *,
    candidate: Candidate,
    assessment_version: AssessmentVersion,
    deadline: datetime | None = None,
    time_limit: timedelta | None = None,
    created_by=None,
) -> InviteCreated:
    """Create the invite, its tokens and its timeline (hosting.services.invite_open adds the repository)."""
    link_token = new_token()
    public_id = new_public_id()
    invite = Invite.objects.create(
        public_id=public_id,
        candidate=candidate,
        assessment_version=assessment_version,
        link_token_hash=token_hash(link_token),
        git_token_hash=token_hash(git_token_for(link_token=link_token, public_id=public_id)),
        deadline=deadline,
        time_limit=time_limit,
        created_by=created_by,
    )
    event_record(invite=invite, kind=Event.Kind.INVITED, data={"by": created_by.get_username() if created_by else None})
    return InviteCreated(
        invite=invite, link_token=link_token, git_token=git_token_for(link_token=link_token, public_id=public_id)
    )


def invite_opened_record(*, invite: Invite) -> None:
    """The candidate opened their link: recorded once, the first time."""
    if not invite.events.filter(kind=Event.Kind.OPENED).exists():
        event_record(invite=invite, kind=Event.Kind.OPENED)


@transaction.atomic
def invite_submit(*, invite: Invite, automatic: bool = False) -> Invite:
    """The candidate submits (or, ``automatic``, time ran out): pushes close, the work goes to review.

    An automatic submission is dated when the invite closed, not when it was noticed.
    """
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    if invite.status != Invite.Status.ACTIVE:
        return invite
    invite.status = Invite.Status.SUBMITTED
    invite.submitted_at = (invite.closes_at if automatic else None) or timezone.now()
    invite.save(update_fields=["status", "submitted_at"])
    event_record(invite=invite, kind=Event.Kind.SUBMITTED, at=invite.submitted_at, data={"automatic": automatic})
    # By task name: the notice lives in invites.emails, which imports this module.
    send_on_commit("invites.submitted_notice", invite_id=invite.pk)
    return invite


def invites_close_expired(*, now: datetime | None = None) -> list[Invite]:
    """Submit every active invite whose deadline or time limit has passed (beat, every minute)."""
    now = now or timezone.now()
    timed = Invite.objects.filter(status=Invite.Status.ACTIVE).filter(
        Q(deadline__isnull=False) | Q(time_limit__isnull=False, started_at__isnull=False)
    )
    return [invite_submit(invite=invite, automatic=True) for invite in timed.iterator() if invite.is_expired(now)]


@transaction.atomic
def invite_revoke(*, invite: Invite, by=None) -> Invite:
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    if invite.status == Invite.Status.REVOKED:
        return invite
    invite.status = Invite.Status.REVOKED
    invite.revoked_at = timezone.now()
    invite.save(update_fields=["status", "revoked_at"])
    event_record(invite=invite, kind=Event.Kind.REVOKED, data={"by": by.get_username() if by else None})
    return invite


# A recruiter's changes to an invite's time and state. Each refuses what does not apply with a
# sentence for the page (InviteActionError) and changes nothing then.


class InviteActionError(ValueError):
    """An action that does not apply to the invite as it stands; the message says why."""


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _seconds(duration: timedelta | None) -> int | None:
    return int(duration.total_seconds()) if duration is not None else None


def _shown(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@transaction.atomic
def invite_extend(
    *, invite: Invite, deadline: datetime | None = None, extra_time: timedelta | None = None, by=None
) -> Invite:
    """Give an active invite a later deadline and/or more time on its time limit.

    Only ever more time: a deadline earlier than the current one, or where there was none, would
    take time away from a candidate who may already be working, so it is refused.
    """
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    now = timezone.now()
    if deadline is None and extra_time is None:
        raise InviteActionError("Give a new deadline, extra time, or both.")
    if invite.status == Invite.Status.REVOKED:
        raise InviteActionError("This invite is revoked; reopen it to give the candidate time again.")
    if invite.status == Invite.Status.SUBMITTED:
        raise InviteActionError("This invite is already submitted; reopen it to give the candidate time again.")
    old_deadline, old_limit = invite.deadline, invite.time_limit
    if deadline is not None:
        if deadline <= now:
            raise InviteActionError(f"The new deadline {_shown(deadline)} is in the past.")
        if old_deadline is None:
            raise InviteActionError("This invite has no deadline, so there is none to extend.")
        if deadline <= old_deadline:
            raise InviteActionError(
                f"The new deadline {_shown(deadline)} is not later than the current one, {_shown(old_deadline)}."
            )
        invite.deadline = deadline
    if extra_time is not None:
        if extra_time <= timedelta(0):
            raise InviteActionError("Extra time must be more than zero.")
        if old_limit is None:
            raise InviteActionError("This invite has no time limit to add time to; set a later deadline instead.")
        invite.time_limit = old_limit + extra_time
    if invite.is_expired(now):
        raise InviteActionError(
            f"Even with this change the invite would have closed at {_shown(invite.closes_at)}; give more time."
        )
    invite.save(update_fields=["deadline", "time_limit"])
    event_record(
        invite=invite,
        kind=Event.Kind.EXTENDED,
        data={
            "by": by.get_username() if by else None,
            "old_deadline": _when(old_deadline),
            "new_deadline": _when(invite.deadline),
            "old_time_limit": _seconds(old_limit),
            "new_time_limit": _seconds(invite.time_limit),
        },
    )
    return invite


@transaction.atomic
def invite_reopen(*, invite: Invite, deadline: datetime | None = None, by=None) -> Invite:
    """Make a submitted or revoked invite active again, so the candidate can push (and open the link).

    If its time is over, a new future deadline is required; a time limit that would close before
    that deadline is lengthened to end with it, since the deadline is what the recruiter chose.
    """
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    now = timezone.now()
    if invite.status == Invite.Status.ACTIVE:
        raise InviteActionError("This invite is already active; there is nothing to reopen.")
    if deadline is not None and deadline <= now:
        raise InviteActionError(f"The new deadline {_shown(deadline)} is in the past.")
    old_status, old_deadline, old_limit = invite.status, invite.deadline, invite.time_limit
    if deadline is not None:
        invite.deadline = deadline
        if invite.time_limit and invite.started_at and invite.started_at + invite.time_limit < deadline:
            invite.time_limit = deadline - invite.started_at
    if invite.is_expired(now):
        raise InviteActionError(
            f"This invite's time ran out at {_shown(invite.closes_at)}; give a new deadline in the future to reopen it."
        )
    invite.status = Invite.Status.ACTIVE
    invite.submitted_at = None
    invite.revoked_at = None
    invite.save(update_fields=["status", "submitted_at", "revoked_at", "deadline", "time_limit"])
    event_record(
        invite=invite,
        kind=Event.Kind.REOPENED,
        data={
            "by": by.get_username() if by else None,
            "was": old_status,
            "old_deadline": _when(old_deadline),
            "new_deadline": _when(invite.deadline),
            "old_time_limit": _seconds(old_limit),
            "new_time_limit": _seconds(invite.time_limit),
        },
    )
    return invite


@transaction.atomic
def invite_link_renew(*, invite: Invite, by=None, link_token: str | None = None) -> tuple[str, str]:
    """Give the invite a new link, and with it a new git password; the old ones stop working at once.

    Only hashes are stored, so a lost link cannot be shown again: a new one is the only way to
    hand it out once more. Returns (link_token, git_token). ``link_token`` is for the senders of
    emails that carry a link (invites.emails.email_send, the feedback email), which store the token
    they have just mailed, only once the mail server accepted it; everyone else lets this function
    draw one.
    """
    link_token_given = link_token is not None
    link_token = link_token or new_token()
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    git_token = git_token_for(link_token=link_token, public_id=invite.public_id)
    invite.link_token_hash = token_hash(link_token)
    invite.git_token_hash = token_hash(git_token)
    invite.save(update_fields=["link_token_hash", "git_token_hash"])
    # "emailed": the link went out in an email (the callers that pass link_token mail it), so the
    # timeline tells it with that email rather than as a link a recruiter made.
    data = {"by": by.get_username() if by else None, "emailed": link_token_given}
    event_record(invite=invite, kind=Event.Kind.LINK_RENEWED, data=data)
    return link_token, git_token
