import fcntl
import math
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gitplumbing import ZERO_SHA, is_ancestor
from portal.assessments.models import AssessmentVersion
from portal.assessments.services import version_shipped_dir
from portal.core.datadir import data_dir
from portal.hosting.gitrepo import RepoPolicy, bundle_create, repository_init
from portal.hosting.models import AuthFailure, Push, RefUpdate, Repository
from portal.invites.models import Candidate, Event, Invite
from portal.invites.services import InviteCreated, event_record, invite_create


def repository_path(invite: Invite) -> Path:
    # Derived from the database row, never from a URL, nor stored: the data directory can move.
    return data_dir() / "repos" / f"{invite.public_id}.git"


def bundle_path(invite: Invite) -> Path:
    return data_dir() / "bundles" / f"{invite.public_id}.bundle"


def clone_url(invite: Invite) -> str:
    return f"{settings.PORTAL_BASE_URL}/git/{invite.public_id}.git"


def repository_create(*, invite: Invite) -> Repository:
    """Create the invite's bare repository and bundle from its assessment version."""
    path = repository_path(invite)
    try:
        commit = repository_init(
            path,
            shipped_dir=version_shipped_dir(invite.assessment_version),
            policy=RepoPolicy(
                max_input_bytes=settings.PORTAL_GIT_MAX_PUSH_MB * 1024 * 1024,
                max_objects=settings.PORTAL_GIT_MAX_OBJECTS,
            ),
            author=settings.PORTAL_GIT_AUTHOR,
            message=f"{invite.assessment_version.assessment.title}: starting point",
        )
        bundle_create(path, bundle_path(invite))
    except BaseException:
        # Nothing half-made stays behind: the caller's transaction drops the rows.
        shutil.rmtree(path, ignore_errors=True)
        bundle_path(invite).unlink(missing_ok=True)
        raise
    return Repository.objects.create(invite=invite, base_commit=commit)


@transaction.atomic
def invite_open(
    *,
    candidate: Candidate,
    assessment_version: AssessmentVersion,
    deadline: datetime | None = None,
    time_limit: timedelta | None = None,
    created_by=None,
) -> InviteCreated:
    """An invite the candidate can use at once: its rows and tokens, its repository and bundle.

    The one way to invite, for the command, the pages and the API alike. The starting point is
    scored with the first push (see portal.scoring.services.push_score).
    """
    created = invite_create(
        candidate=candidate,
        assessment_version=assessment_version,
        deadline=deadline,
        time_limit=time_limit,
        created_by=created_by,
    )
    repository_create(invite=created.invite)
    return created


def push_refusal(*, invite: Invite, now: datetime | None = None) -> str | None:
    """Why a push to this invite is refused now, in words for the candidate; None if allowed."""
    now = now or timezone.now()
    if invite.status == Invite.Status.REVOKED:
        return "this invite has been revoked; contact the recruiter who sent it."
    if invite.status == Invite.Status.SUBMITTED:
        return f"this assessment was submitted at {invite.submitted_at:%Y-%m-%d %H:%M} UTC; pushes are closed."
    if invite.is_expired(now):
        return f"the time for this assessment ended at {invite.closes_at:%Y-%m-%d %H:%M} UTC; pushes are closed."
    return None


@contextmanager
def push_lock(invite: Invite) -> Iterator[None]:
    """Serialize pushes to one repository across threads and processes on this host."""
    with open(repository_path(invite) / "portal-push.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _kind(path: Path, old: str, new: str) -> str:
    if old == ZERO_SHA:
        return RefUpdate.Kind.CREATED
    if new == ZERO_SHA:
        return RefUpdate.Kind.DELETED
    return RefUpdate.Kind.UPDATED if is_ancestor(path, old, new) else RefUpdate.Kind.FORCED


def push_record(
    *, invite: Invite, updates: list[tuple[str, str, str]], address: str | None, user_agent: str = ""
) -> Push:
    """Record an accepted push, its ref updates and a timeline event.

    The first push starts the clock like a first clone: a candidate who got the code another way
    and never fetched has still started work. Ref names always fit RefUpdate.ref: the git
    view refused, before git ran, every name that would not (refpolicy.py).

    Scoring is not this app's business: the git view hands the returned push to the callback
    the URLconf gave it (portal.scoring.services.push_score), in the same transaction, which
    then holds the invite's row lock (``Push.invite_locked``).
    """
    path = repository_path(invite)
    goes_on = transaction.get_connection().in_atomic_block
    with transaction.atomic(savepoint=False):
        invite, first = _clock_start(invite, related=("assessment_version", "repository"))
        if first:
            event_record(invite=invite, kind=Event.Kind.STARTED, data={"via": "push", "address": address})
        push = Push.objects.create(invite=invite, at=timezone.now(), address=address, user_agent=user_agent[:200])
        push._updates_written = RefUpdate.objects.bulk_create(
            RefUpdate(push=push, ref=ref, old_sha=old, new_sha=new, kind=_kind(path, old, new))
            for old, new, ref in updates
        )
        event_record(
            invite=invite,
            kind=Event.Kind.PUSHED,
            at=push.at,
            data={"push": push.pk, "refs": [{"ref": ref, "old": old, "new": new} for old, new, ref in updates]},
        )
    # Once push_record's own transaction has committed, the lock is gone.
    push.invite_locked = goes_on
    return push


def _clock_start(invite: Invite, *, related: tuple[str, ...] = ()) -> tuple[Invite, bool]:
    """Lock the invite's row and start its clock if it has not started; whether this call started it.

    Every invite records when work began (the dashboard's "cloned" stage reads it); for a time
    limit it is also when the time starts to run. Call inside a transaction. ``related``: what
    to read with the row (select_related); only the invite's own row is locked.
    """
    invite = Invite.objects.select_for_update(of=("self",)).select_related(*related).get(pk=invite.pk)
    if invite.started_at is not None:
        return invite, False
    invite.started_at = timezone.now()
    invite.save(update_fields=["started_at"])
    return invite, True


@transaction.atomic
def fetch_record(*, invite: Invite, address: str | None) -> Event:
    """A clone or fetch: the first one starts a time-limited invite's clock."""
    invite, first = _clock_start(invite)
    kind = Event.Kind.CLONED if first else Event.Kind.FETCHED
    return event_record(invite=invite, kind=kind, data={"address": address})


# The requests of one clone or fetch (the advertisement, then one or more upload-pack POSTs) follow
# one another from one address within moments; a POST this soon after a recorded clone or fetch
# from the same address is part of it.
FETCH_REQUESTS_SECONDS = 60


@transaction.atomic
def upload_pack_record(*, invite: Invite, address: str | None) -> Event | None:
    """An upload-pack POST, the request that sends the code: it starts the clock like a clone.

    git sends it after the advertisement (GET info/refs), which fetch_record has recorded, but a
    client may send it alone: then it is the fetch, and recorded as one. The event, or None when
    the POST belongs to a clone or fetch recorded moments ago from the same address.
    """
    invite, first = _clock_start(invite)
    since = timezone.now() - timedelta(seconds=FETCH_REQUESTS_SECONDS)
    kinds = (Event.Kind.CLONED, Event.Kind.FETCHED)
    if not first and invite.events.filter(kind__in=kinds, at__gte=since, data__address=address).exists():
        return None
    kind = Event.Kind.CLONED if first else Event.Kind.FETCHED
    return event_record(invite=invite, kind=kind, data={"address": address})


@transaction.atomic
def invite_start(*, invite: Invite, via: str, address: str | None = None) -> Invite:
    """The candidate pressed Start, or took the code another way than git (``via``: "button", "bundle").

    Starts the clock once, like a first clone; later calls change nothing. Refused invites are the
    caller's concern: the candidate's pages only offer this while the invite is open.
    """
    invite, first = _clock_start(invite)
    if first:
        event_record(invite=invite, kind=Event.Kind.STARTED, data={"via": via, "address": address})
    return invite


# Wrong invite links are recorded as refused sign-ins under this name (no invite's public id looks
# like it); they count against the address for links only, never for git.
LINK_FAILURE = "link"


# The wait a pair is told after its first failure past PORTAL_GIT_AUTH_MAX_PER_PAIR; each further
# failure doubles it, up to PORTAL_GIT_AUTH_WINDOW.
FIRST_WAIT = 30


def _git_failures(since: datetime):
    return AuthFailure.objects.filter(at__gte=since).exclude(username=LINK_FAILURE)


def _pair_wait(failures: int) -> int | None:
    """The Retry-After for a pair with this many failures in the window, or None below the limit."""
    past = failures - settings.PORTAL_GIT_AUTH_MAX_PER_PAIR
    if past < 1:
        return None
    # The exponent is bounded so that a long run of failures never builds a huge integer.
    return min(FIRST_WAIT * 2 ** min(past - 1, 32), settings.PORTAL_GIT_AUTH_WINDOW)


def _guessing_wait(*, address: str | None, since: datetime, now: datetime) -> int | None:
    """Seconds until this address may try unknown ids again, or None while it is under the limit.

    Only failures on ids that do not exist count: a busy office or proxy where someone mistypes
    a password is not guessing ids.
    """
    if not address:
        return None
    failures = _git_failures(since).filter(address=address, known=False)
    return _wait_below(failures, limit=settings.PORTAL_GIT_AUTH_MAX_PER_ADDRESS, now=now)


def _wait_below(failures, *, limit: int, now: datetime) -> int | None:
    """Seconds until fewer than ``limit`` of ``failures`` (AuthFailure rows within the window) are
    left in it, or None when there are fewer already: the limit-th most recent one must leave it."""
    times = list(failures.order_by("-at").values_list("at", flat=True)[:limit])
    if len(times) < limit:
        return None
    free_at = times[-1] + timedelta(seconds=settings.PORTAL_GIT_AUTH_WINDOW)
    return max(1, math.ceil((free_at - now).total_seconds()))


def auth_failure_record(*, address: str | None, username: str, now: datetime | None = None) -> int | None:
    """Record a refused git sign-in for invite ``username`` from ``address``; return how many
    seconds the client is told to wait (the view answers 429), or None (401).

    Called only once the password has been checked and found wrong: a right password always
    gets in, so nobody else's failures (a stranger on the same office address, or strangers
    anywhere trying this invite's id) can lock a candidate out. What is slowed down is the
    failing (address, invite) pair, with a wait that doubles per failure past
    PORTAL_GIT_AUTH_MAX_PER_PAIR, and an address guessing ids that do not exist, past
    PORTAL_GIT_AUTH_MAX_PER_ADDRESS of them: every wrong credential from it then gets 429, for
    existing ids too, so the answer does not tell which ids exist. Rows stop being added once
    they would change nothing, so a client that keeps hammering does not grow the table.
    """
    now = now or timezone.now()
    since = now - timedelta(seconds=settings.PORTAL_GIT_AUTH_WINDOW)
    username = username[:64]
    known = Invite.objects.filter(public_id=username).exists()
    pair = _git_failures(since).filter(address=address, username=username).count()
    guessing = _guessing_wait(address=address, since=since, now=now)
    saturated = _pair_wait(pair) == settings.PORTAL_GIT_AUTH_WINDOW or (not known and guessing is not None)
    if not saturated:
        AuthFailure.objects.create(at=now, address=address, username=username, known=known)
        pair += 1
    waits = [wait for wait in (_pair_wait(pair), guessing) if wait is not None]
    return max(waits) if waits else None


def auth_failures_clear(*, address: str | None, username: str) -> None:
    """Forget a pair's failures once it has signed in: a mistyped token, then the right one, leaves
    nothing behind that would make the next typo wait."""
    failures = AuthFailure.objects.filter(address=address, username=username[:64])
    # Read first: nearly every sign-in has nothing to forget, and a delete takes the database's
    # write lock (on SQLite, the whole file's) on every git request.
    if failures.exists():
        failures.delete()


def link_failure_record(*, address: str | None) -> None:
    AuthFailure.objects.create(at=timezone.now(), address=address, username=LINK_FAILURE)


def link_guessing_wait(*, address: str | None, now: datetime | None = None) -> int | None:
    """Seconds until invite links from this address are served again (too many wrong ones), or
    None when they are served now."""
    if not address:
        return None
    now = now or timezone.now()
    since = now - timedelta(seconds=settings.PORTAL_GIT_AUTH_WINDOW)
    failures = AuthFailure.objects.filter(address=address, username=LINK_FAILURE, at__gte=since)
    return _wait_below(failures, limit=settings.PORTAL_LINK_MAX_FAILURES_PER_ADDRESS, now=now)


def auth_failures_prune(*, now: datetime | None = None) -> int:
    since = (now or timezone.now()) - timedelta(seconds=settings.PORTAL_GIT_AUTH_WINDOW)
    deleted, _ = AuthFailure.objects.filter(at__lt=since).delete()
    return deleted
