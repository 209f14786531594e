from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.assessments.models import AssessmentVersion
from portal.core.dispatch import send_on_commit
from portal.invites.models import Candidate, Event, Invite
from portal.invites.tokens import git_token_for, new_public_id, new_token, token_hash


@dataclass(frozen=True)
class InviteCreated:
    """The new invite and its secrets, which exist in clear only here."""

    invite: Invite
    link_token: str
    git_token: str


def event_record(*, invite: Invite, kind: str, data: dict | None = None, at: datetime | None = None) -> Event:
    return Event.objects.create(invite=invite, kind=kind, data=data or {}, at=at or timezone.now())


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


@transaction.atomic
def invite_link_renew(*, invite: Invite, by=None, link_token: str | None = None) -> tuple[str, str]:
    """Give the invite a new link, and with it a new git password; the old ones stop working at once.

    Only hashes are stored, so a lost link cannot be shown again: a new one is the only way to
    hand it out once more. Returns (link_token, git_token). ``link_token`` is for
    invites.emails.email_send, which stores the token it has just mailed, only once the mail
    server accepted it; everyone else lets this function draw one.
    """
    link_token = link_token or new_token()
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    git_token = git_token_for(link_token=link_token, public_id=invite.public_id)
    invite.link_token_hash = token_hash(link_token)
    invite.git_token_hash = token_hash(git_token)
    invite.save(update_fields=["link_token_hash", "git_token_hash"])
    event_record(invite=invite, kind=Event.Kind.LINK_RENEWED, data={"by": by.get_username() if by else None})
    return link_token, git_token
