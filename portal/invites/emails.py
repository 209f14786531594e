"""Mail about invites: the invitation with the candidate's link, a reminder before time runs out,
and a notice to recruiters when work is submitted.

Every message is an :class:`~portal.invites.models.Email` row first, sent by the task
``invites.send_email``, so that a failure is recorded and can be retried from the row.

Link tokens are stored only as hashes, so the link cannot be read back to be mailed: every
invitation (the first, a retry, a resend) carries a fresh link, and the old link (and the git
password derived from it) stops working once the mail server has accepted the new one. Until
then the old link keeps working, so a failed send locks nobody out. Reminders and notices
carry no link.

The wording is in templates under ``invites/email/`` (``<kind>_subject.txt``, ``<kind>.txt``,
``<kind>.html``), which an operator may override from ``PORTAL_TEMPLATE_DIR``.
"""

import logging
import re
import smtplib
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timeuntil

from portal.accounts.models import User
from portal.accounts.roles import RECRUITER
from portal.core.dispatch import send_on_commit
from portal.invites.models import Email, Event, Invite
from portal.invites.services import event_record, invite_link_renew
from portal.invites.tokens import new_token

logger = logging.getLogger(__name__)

SEND_TASK = "invites.send_email"
ERROR_MAX_LENGTH = Email._meta.get_field("error").max_length
# What a send may raise because of the mail server, the network or an address it refuses.
# (Django raises BadHeaderError, a ValueError, for a header with a line break in it.)
SEND_ERRORS = (smtplib.SMTPException, OSError, ValueError)


class EmailRefused(ValueError):
    """The email cannot be queued or retried as things stand; the message says why."""


class EmailDeferred(Exception):
    """This attempt failed and another will follow; the email stays queued."""


# --- Queueing ---------------------------------------------------------------


@transaction.atomic
def invitation_queue(*, invite: Invite, by=None, resend: bool = False) -> Email:
    """Queue the invitation to the candidate, with a link that replaces the current one.

    Without ``resend`` an invite that already has an invitation sent or on its way is
    refused, because sending again ends the link the candidate may be using. An invite
    with an invitation still queued is refused either way: both would go out, and only
    the link of the later one would work.
    """
    invite = Invite.objects.select_for_update().select_related("candidate").get(pk=invite.pk)
    if invite.status == Invite.Status.REVOKED:
        raise EmailRefused("This invite is revoked: no invitation can be sent for it.")
    if invite.status == Invite.Status.SUBMITTED:
        raise EmailRefused("This invite is already submitted: there is nothing left to invite the candidate to.")
    invitations = invite.emails.filter(kind=Email.Kind.INVITATION)
    if invitations.filter(status=Email.Status.QUEUED).exists():
        raise EmailRefused(
            f"An invitation to {invite.candidate.email} is already waiting to be sent; "
            "a second one now would make its link stop working."
        )
    if not resend and invitations.filter(status=Email.Status.SENT).exists():
        raise EmailRefused(
            f"An invitation was already sent to {invite.candidate.email}. Resend it to mail a new link; "
            "the link they have now will stop working."
        )
    return _email_queue(invite=invite, kind=Email.Kind.INVITATION, to=invite.candidate.email, by=by)


@transaction.atomic
def email_retry(*, email: Email, by=None) -> Email:
    """Queue a failed email again (its attempts go on counting). Anything else is refused."""
    email = Email.objects.select_for_update().select_related("invite").get(pk=email.pk)
    if email.status != Email.Status.FAILED:
        raise EmailRefused(f"Only a failed email can be sent again; this one is {email.get_status_display().lower()}.")
    if email.kind == Email.Kind.INVITATION and email.invite.status == Invite.Status.REVOKED:
        raise EmailRefused("This invite is revoked: its invitation cannot be sent again.")
    email.status = Email.Status.QUEUED
    email.error = ""
    email.queued_at = timezone.now()
    email.task_sent_at = None
    email.save(update_fields=["status", "error", "queued_at", "task_sent_at"])
    _send_task(email.pk)
    return email


def reminders_send(*, now: datetime | None = None) -> list[Email]:
    """Queue one reminder for each active invite that closes within ``PORTAL_REMINDER_HOURS``.

    Beat runs this every 15 minutes. An invite is reminded once, ever (a failed reminder
    counts: it can be retried by hand). It is reminded only if its whole window is longer
    than twice the lead, so that a short time limit or a deadline a day away does not get a
    reminder on the heels of the invitation: the window runs from the invite's creation to
    its deadline, or from the first clone for the length of the time limit. A time limit
    that has not started has no closing time yet and is not reminded. 0 hours disables
    reminders.
    """
    hours = settings.PORTAL_REMINDER_HOURS
    if hours <= 0:
        return []
    now = now or timezone.now()
    lead = timedelta(hours=hours)
    timed = (
        Invite.objects.filter(status=Invite.Status.ACTIVE)
        .filter(Q(deadline__isnull=False) | Q(time_limit__isnull=False, started_at__isnull=False))
        .exclude(emails__kind=Email.Kind.REMINDER)
        .select_related("candidate")
    )
    return [
        _email_queue(invite=invite, kind=Email.Kind.REMINDER, to=invite.candidate.email)
        for invite in timed.iterator()
        if _reminder_due(invite=invite, now=now, lead=lead)
    ]


def _reminder_due(*, invite: Invite, now: datetime, lead: timedelta) -> bool:
    closes_at = invite.closes_at
    if closes_at is None or not now < closes_at <= now + lead:
        return False
    by_time_limit = invite.time_limit and invite.started_at and closes_at == invite.started_at + invite.time_limit
    opened_at = invite.started_at if by_time_limit else invite.created_at
    return closes_at - opened_at > 2 * lead


@transaction.atomic
def submitted_notices_queue(*, invite: Invite) -> list[Email]:
    """Tell recruiters the invite was submitted: its creator, or, with none, every recruiter.

    Idempotent (the task that calls it may be delivered twice): an invite gets its notices once.
    """
    invite = Invite.objects.select_for_update(of=("self",)).select_related("created_by").get(pk=invite.pk)
    if invite.emails.filter(kind=Email.Kind.SUBMITTED_NOTICE).exists():
        return []
    return [_email_queue(invite=invite, kind=Email.Kind.SUBMITTED_NOTICE, to=to) for to in _notice_recipients(invite)]


def _notice_recipients(invite: Invite) -> list[str]:
    creator = invite.created_by
    if creator is not None and creator.is_active and creator.email:
        return [creator.email]
    app_label, codename = RECRUITER.permission.split(".")
    holds_role = Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label=app_label) | Q(
        user_permissions__codename=codename, user_permissions__content_type__app_label=app_label
    )
    addresses = User.objects.filter(holds_role, is_active=True).exclude(email="").values_list("email", flat=True)
    unique = {address.lower(): address for address in addresses.order_by("email").distinct()}
    return list(unique.values())


@transaction.atomic
def _email_queue(*, invite: Invite, kind: str, to: str, by=None) -> Email:
    email = Email.objects.create(invite=invite, kind=kind, to=to, created_by=by, queued_at=timezone.now())
    _send_task(email.pk)
    return email


def _send_task(email_id: int) -> None:
    """Send the email's task once the transaction commits; ``task_sent_at`` says the broker took it."""

    def sent() -> None:
        Email.objects.filter(pk=email_id, task_sent_at__isnull=True).update(task_sent_at=timezone.now())

    send_on_commit(SEND_TASK, email_id=email_id, on_sent=sent)


# Queued this long ago and its task never taken by the broker (it was down): sent by the sweep. Far
# longer than the send after commit takes, so an email is never sent twice by it.
UNSENT_AFTER = timedelta(seconds=30)


def emails_unsent_send(*, now: datetime | None = None, limit: int = 200) -> int:
    """Send the tasks of queued emails the broker never took (``task_sent_at`` empty); how many.

    Only those: an email whose task the broker took is the task's to send (it retries by itself),
    and sending a second task for it could mail it twice.
    """
    now = now or timezone.now()
    unsent = list(
        Email.objects.filter(
            status=Email.Status.QUEUED, task_sent_at__isnull=True, queued_at__lt=now - UNSENT_AFTER
        ).values_list("pk", "queued_at")[:limit]
    )
    sent = 0
    for email_id, queued_at in unsent:
        # Taken by this sweep alone (another one running at once finds queued_at changed).
        if Email.objects.filter(pk=email_id, queued_at=queued_at, task_sent_at__isnull=True).update(queued_at=now):
            _send_task(email_id)
            sent += 1
    return sent


# --- Sending ----------------------------------------------------------------


def email_send(*, email_id: int, final: bool = True) -> Email:
    """Send one queued email; what the task ``invites.send_email`` runs.

    An email that is no longer queued (already sent, or failed) is left alone, so a task
    delivered twice sends once. An invitation gets a fresh link token, rendered into the
    message; its hash (and the git password's) is stored through ``invite_link_renew`` only
    once the mail server accepted the message, so a failed send leaves the old link working.
    On a mail error the email is marked failed with a short reason and an EMAIL_FAILED
    event, unless ``final`` is false: then it stays queued and EmailDeferred is raised, for
    the task to try again later.
    """
    email = _email_claim(email_id=email_id)
    if email.status != Email.Status.QUEUED:
        return email
    invite = email.invite
    link_token = None
    if email.kind == Email.Kind.INVITATION:
        if invite.status == Invite.Status.REVOKED:
            return _email_failed(email=email, error="The invite was revoked before the invitation went out.")
        link_token = new_token()
    try:
        message = _message(email=email, invite=invite, link_token=link_token)
    except (TemplateDoesNotExist, TemplateSyntaxError) as exc:
        # An operator's template override that does not render: retrying would not help.
        logger.exception("Email %s (%s) could not be rendered", email.pk, email.kind)
        return _email_failed(email=email, error=email_error_line(exc, secrets=[link_token]))
    try:
        message.send()
    except SEND_ERRORS as exc:
        error = email_error_line(exc, secrets=[link_token, settings.EMAIL_HOST_PASSWORD])
        logger.warning("Email %s (%s) to invite %s not sent: %s", email.pk, email.kind, invite.public_id, error)
        if not final:
            Email.objects.filter(pk=email.pk).update(error=error)
            raise EmailDeferred(error) from exc
        return _email_failed(email=email, error=error)
    return _email_sent(email=email, link_token=link_token)


@transaction.atomic
def _email_claim(*, email_id: int) -> Email:
    """Count the attempt before the work, so a worker lost mid-send still leaves it counted."""
    # of=self: PostgreSQL refuses to lock the nullable side of an outer join (the invite's creator).
    email = (
        Email.objects.select_for_update(of=("self",))
        .select_related("invite__candidate", "invite__assessment_version__assessment", "invite__created_by")
        .get(pk=email_id)
    )
    if email.status == Email.Status.QUEUED:
        email.attempts += 1
        email.save(update_fields=["attempts"])
    return email


@transaction.atomic
def _email_sent(*, email: Email, link_token: str | None) -> Email:
    if link_token is not None:
        invite_link_renew(invite=email.invite, by=email.created_by, link_token=link_token)
    email.status = Email.Status.SENT
    email.sent_at = timezone.now()
    email.error = ""
    email.save(update_fields=["status", "sent_at", "error"])
    kind = Event.Kind.REMINDED if email.kind == Email.Kind.REMINDER else Event.Kind.EMAILED
    data = {"email": email.pk, "kind": email.kind, "to": email.to, "new_link": link_token is not None}
    event_record(invite=email.invite, kind=kind, data=data, at=email.sent_at)
    return email


@transaction.atomic
def _email_failed(*, email: Email, error: str) -> Email:
    email.status = Email.Status.FAILED
    email.error = error[:ERROR_MAX_LENGTH]
    email.save(update_fields=["status", "error"])
    data = {"email": email.pk, "kind": email.kind, "to": email.to, "error": email.error}
    event_record(invite=email.invite, kind=Event.Kind.EMAIL_FAILED, data=data)
    return email


def email_error_line(exc: BaseException, *, secrets: list[str | None], limit: int = ERROR_MAX_LENGTH) -> str:
    """A failed send's exception, class and message, on one line of at most ``limit`` characters,
    with any secret (a link token, the mail server's password) blanked out."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[hidden]")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Messages ---------------------------------------------------------------


def _message(*, email: Email, invite: Invite, link_token: str | None) -> EmailMultiAlternatives:
    """The message from the kind's three templates: subject, plain text, and its HTML alternative."""
    context = _context(email=email, invite=invite, link_token=link_token)
    base = f"invites/email/{email.kind}"
    # One line whatever a name holds: a line break in a header would start a new header.
    subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
    recruiter = _inviting_person(email=email, invite=invite)
    to_candidate = email.kind != Email.Kind.SUBMITTED_NOTICE
    reply_to = [recruiter.email] if to_candidate and recruiter and recruiter.email else []
    # Conditional paragraphs leave runs of blank lines behind; the plain text reads better without.
    text = re.sub(r"\n{3,}", "\n\n", render_to_string(f"{base}.txt", context)).strip() + "\n"
    message = EmailMultiAlternatives(subject, text, to=[email.to], reply_to=reply_to)
    message.attach_alternative(render_to_string(f"{base}.html", context), "text/html")
    return message


def _inviting_person(*, email: Email, invite: Invite) -> User | None:
    """Who the candidate's emails name and reply to: the invite's creator or, for an invite a
    command made, the person who sent this email (None when neither is known)."""
    return invite.created_by or email.created_by


def _inviter_words(person: User | None) -> tuple[str, str]:
    """How the emails name who invites: ("Rita Ross", "Rita Ross at Example Ltd").

    The person's full name (their username when they have none), "at" PORTAL_ORGANISATION when
    it is set; the organisation alone when no person is known; both empty when neither is.
    """
    name = " ".join((person.get_full_name() or person.get_username()).split()) if person else ""
    organisation = " ".join(settings.PORTAL_ORGANISATION.split())
    return name, " at ".join(part for part in (name, organisation) if part)


def _context(*, email: Email, invite: Invite, link_token: str | None) -> dict:
    now = timezone.now()
    closes_at = invite.closes_at
    recruiter = _inviting_person(email=email, invite=invite)
    portal_url = settings.PORTAL_BASE_URL
    recruiter_name, inviter = _inviter_words(recruiter)
    return {
        "email": email,
        "invite": invite,
        # Names are shown on one line: whatever a candidate typed, the greeting stays a greeting.
        "candidate_name": " ".join(invite.candidate.name.split()),
        "assessment_title": " ".join(invite.assessment_version.assessment.title.split()),
        "link": portal_url + reverse("invite_page", args=[link_token]) if link_token else "",
        "closes_at": _utc_words(closes_at) if closes_at else "",
        "time_left": _duration_words(closes_at - now) if closes_at and closes_at > now else "",
        "time_limit": _duration_words(invite.time_limit) if invite.time_limit and not invite.started_at else "",
        "recruiter_name": recruiter_name,
        "inviter": inviter,
        "organisation": " ".join(settings.PORTAL_ORGANISATION.split()),
        "recruiter_email": recruiter.email if recruiter else "",
        "submitted_at": _utc_words(invite.submitted_at) if invite.submitted_at else "",
        "automatic": invite.events.filter(kind=Event.Kind.SUBMITTED, data__automatic=True).exists(),
        "result_url": portal_url + reverse("invite_result", args=[invite.public_id]),
        "portal_url": portal_url,
    }


def _utc_words(moment: datetime) -> str:
    """'Monday 7 December 2026 at 17:00 UTC': in UTC, since the reader's time zone is unknown."""
    moment = moment.astimezone(UTC)
    return f"{moment:%A} {moment.day} {moment:%B %Y at %H:%M} UTC"


def _duration_words(duration: timedelta) -> str:
    """'2 days, 3 hours': its two largest units; timesince's no-break spaces read badly in plain text."""
    now = timezone.now()
    return timeuntil(now + duration, now, depth=2).replace("\xa0", " ")
