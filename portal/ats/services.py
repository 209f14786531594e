"""Greenhouse's Assessment Partner API over the pipeline's services: its key, send_test, and the
completion report (a PATCH to the url Greenhouse gave) sent reliably.

The report follows the portal's outbox pattern (portal.invites.emails): a ``CompletionReport`` row
is written in the transaction of the event that completes the test (the hook
``invites.event_recorded``), its task ``ats.report`` is sent on commit, and the sweep ``ats.sweep``
(beat, every 30 s) sends the task of every report that is due and that the broker does not hold:
one the broker never took, one waiting for its result to be stored, one to try again after a
failure. A task delivered twice finds the report no longer pending, or sends the same PATCH
again, which Greenhouse reads as the same news.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.accounts.models import User
from portal.ats.models import CompletionReport, GreenhouseKey, GreenhouseTest
from portal.ats.selectors import FINAL_STATUSES, greenhouse_test_status, greenhouse_tests
from portal.core.dispatch import send_on_commit
from portal.invites.models import Event, Invite
from portal.invites.tokens import new_public_id
from portal.pipeline.invitations import InviteRequest, invitations_create

logger = logging.getLogger(__name__)

KEY_PREFIX = "gh_"
SHOWN_PREFIX_LENGTH = 10
LAST_USED_EVERY = timedelta(minutes=1)

REPORT_TASK = "ats.report"
# After the first attempt, the report is tried again this many seconds later, then given up.
RETRY_SECONDS = (30, 300, 1800, 7200, 21600)
# How often a report waiting for its result (runs or the analysis still to finish) looks again,
# and for how long at most.
WAIT_SECONDS = 30
WAIT_MAX = timedelta(days=7)
# A report whose task the broker did not take is sent again by the sweep this long after.
RESEND_AFTER = timedelta(seconds=60)
ANSWER_KEPT = 500  # characters of Greenhouse's answer kept on the report
ANSWER_READ = 4096  # bytes of it read at most


# --- The key ------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def greenhouse_key_make(*, keep_others: bool = False, by=None) -> tuple[GreenhouseKey, str]:
    """A new key, and its secret (in clear only here). Other keys are revoked unless ``keep_others``
    (while Greenhouse is switched over to the new one)."""
    if not keep_others:
        greenhouse_keys_revoke()
    secret = KEY_PREFIX + secrets.token_urlsafe(32)  # 46 characters: Greenhouse takes fewer than 171
    key = GreenhouseKey.objects.create(prefix=secret[:SHOWN_PREFIX_LENGTH], key_hash=_hash(secret), created_by=by)
    return key, secret


def greenhouse_keys_revoke() -> int:
    """Revoke every valid key: Greenhouse's calls are refused until a new key is made."""
    return GreenhouseKey.objects.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def greenhouse_key_check(secret: str, *, now: datetime | None = None) -> GreenhouseKey | None:
    """The valid key ``secret`` is, or None; compared in constant time with every valid key's hash."""
    now = now or timezone.now()
    given = _hash(secret or "")
    found = None
    for key in GreenhouseKey.objects.filter(revoked_at__isnull=True):
        if hmac.compare_digest(given, key.key_hash) and found is None:
            found = key
    if found is not None and (found.last_used_at is None or now - found.last_used_at > LAST_USED_EVERY):
        GreenhouseKey.objects.filter(pk=found.pk).update(last_used_at=now)
    return found


# --- send_test ----------------------------------------------------------------


@dataclass(frozen=True)
class SendRequest:
    """send_test's fields, as Greenhouse sent them (text, nothing checked yet)."""

    partner_test_id: str
    first_name: str
    last_name: str
    email: str
    callback_url: str = ""
    greenhouse_profile_url: str = ""


class SendRefused(ValueError):
    """send_test cannot be done as asked; ``errors`` say why, ``status`` is the HTTP answer's."""

    def __init__(self, errors: list[str], *, status: int = 400):
        super().__init__("; ".join(errors))
        self.errors = errors
        self.status = status


# The batch service's names for the fields, in send_test's words.
_FIELDS = {"name": "candidate.first_name", "email": "candidate.email", "assessment": "partner_test_id"}


def _existing(*, key: str, email: str, slug: str) -> GreenhouseTest | None:
    """The test a repeated send_test asks for: the same Greenhouse request, or the same candidate and
    test while its invite is open."""
    found = GreenhouseTest.objects.filter(request_key=key, invite__isnull=False).first()
    return found or (
        GreenhouseTest.objects.filter(
            partner_test_id=slug, invite__status=Invite.Status.ACTIVE, invite__candidate__email__iexact=email
        )
        .order_by("-created_at")
        .first()
    )


def _deadline(now: datetime) -> str:
    """The form's default: PORTAL_GREENHOUSE_DEADLINE_DAYS from now at 17:00 server time."""
    moment = timezone.localtime(now) + timedelta(days=settings.PORTAL_GREENHOUSE_DEADLINE_DAYS)
    return moment.replace(hour=17, minute=0, second=0, microsecond=0).isoformat()


def _inviter() -> User | None:
    username = settings.PORTAL_GREENHOUSE_INVITER
    if not username:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        logger.warning("PORTAL_GREENHOUSE_INVITER=%r is no active user: Greenhouse's invite names no inviter", username)
    return user


def greenhouse_test_send(*, request: SendRequest, now: datetime | None = None) -> GreenhouseTest:
    """Invite the candidate to the test and queue the invitation email, by the same rules as the
    invite form (portal.pipeline.invitations); remember Greenhouse's ids. Idempotent: a repeated
    request (see ``_existing``) returns the test it made first. Raises SendRefused."""
    now = now or timezone.now()
    slug, email = request.partner_test_id, request.email.strip()
    known = [test["partner_test_id"] for test in greenhouse_tests()]
    if slug not in known:
        raise SendRefused([f"partner_test_id: there is no test “{slug}” (known: {', '.join(known) or 'none'})."])
    key = request.callback_url or f"{email.lower()} {slug}"
    existing = _existing(key=key, email=email, slug=slug)
    if existing is not None:
        if request.callback_url and existing.callback_url != request.callback_url:
            # Greenhouse sent the same test to the same person again: it now listens at the new url.
            existing.callback_url = request.callback_url
            existing.save(update_fields=["callback_url"])
        return existing
    open_elsewhere = Invite.objects.filter(
        status=Invite.Status.ACTIVE, candidate__email__iexact=email, assessment_version__assessment__slug=slug
    )
    if email and open_elsewhere.exists():
        raise SendRefused([f"candidate.email: {email} already has an open invite to {slug}."], status=409)
    name = " ".join(f"{request.first_name} {request.last_name}".split())
    hours = settings.PORTAL_GREENHOUSE_TIME_LIMIT_HOURS
    row = InviteRequest(1, name, email, slug, _deadline(now), str(hours) if hours else "")
    try:
        with transaction.atomic():
            # Written first: a concurrent copy of this request waits on its unique key, then finds it.
            test = GreenhouseTest.objects.create(
                partner_interview_id=new_public_id(),
                partner_test_id=slug,
                request_key=key,
                callback_url=request.callback_url,
                greenhouse_profile_url=request.greenhouse_profile_url,
            )
            result = invitations_create(requests=[row], created_by=_inviter(), max_rows=1, send_email=True, now=now)
            if not result.check.ok:
                errors = [f"{_FIELDS.get(e.field, e.field)}: {e.message}" for r in result.check.rows for e in r.errors]
                raise SendRefused(errors + result.check.errors)
            test.invite = result.created[0].invite
            test.save(update_fields=["invite"])
    except IntegrityError:
        existing = _existing(key=key, email=email, slug=slug)
        if existing is None:
            raise
        return existing
    return test


# --- The completion report ----------------------------------------------------


def greenhouse_event_recorded(*, event: Event) -> None:
    """Receiver of invites.event_recorded: a submitted (or scored after submitting) invite that
    Greenhouse sent gets a completion report, unless one is already waiting."""
    if event.kind not in (Event.Kind.SUBMITTED, Event.Kind.SCORED):
        return
    test = GreenhouseTest.objects.filter(invite_id=event.invite_id).exclude(callback_url="").first()
    if test is None or not Invite.objects.filter(pk=event.invite_id, status=Invite.Status.SUBMITTED).exists():
        return
    report_queue(test=test)


def report_queue(*, test: GreenhouseTest, now: datetime | None = None) -> CompletionReport:
    """The test's waiting report, or a new one whose task is sent on commit."""
    now = now or timezone.now()
    waiting = test.reports.filter(status=CompletionReport.Status.PENDING).first()
    if waiting is not None:
        return waiting
    try:
        # A savepoint: the caller's transaction (a run being recorded) must survive a lost race.
        with transaction.atomic():
            report = CompletionReport.objects.create(test=test, next_attempt_at=now + RESEND_AFTER)
    except IntegrityError:
        return test.reports.get(status=CompletionReport.Status.PENDING)
    _send_task(report.pk)
    return report


def _send_task(report_id: int) -> None:
    def sent() -> None:
        CompletionReport.objects.filter(pk=report_id, task_sent_at__isnull=True).update(task_sent_at=timezone.now())

    send_on_commit(REPORT_TASK, report_id=report_id, on_sent=sent)


def reports_due_send(*, now: datetime | None = None, limit: int = 200) -> int:
    """The sweep: send the task of every pending report that is due and not with the broker."""
    now = now or timezone.now()
    due = CompletionReport.objects.filter(
        status=CompletionReport.Status.PENDING, task_sent_at__isnull=True, next_attempt_at__lte=now
    ).values_list("pk", "next_attempt_at")[:limit]
    sent = 0
    for report_id, due_at in list(due):
        # Taken by this sweep alone (another one running at once finds next_attempt_at changed).
        taken = CompletionReport.objects.filter(pk=report_id, task_sent_at__isnull=True, next_attempt_at=due_at)
        if taken.update(next_attempt_at=now + RESEND_AFTER):
            _send_task(report_id)
            sent += 1
    return sent


def callback_url_problem(url: str) -> str:
    """Why the report may not go to ``url`` ("" if it may): https to PORTAL_GREENHOUSE_CALLBACK_DOMAINS,
    or loopback (http too) when PORTAL_GREENHOUSE_CALLBACK_ALLOW_LOOPBACK is on."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return f"{url!r} is not a URL."
    if parts.scheme not in ("http", "https") or not host:
        return f"{url!r} is not an http or https URL."
    if settings.PORTAL_GREENHOUSE_CALLBACK_ALLOW_LOOPBACK and _is_loopback(host):
        return ""
    if parts.scheme != "https":
        return f"{url!r} is not https."
    domains = settings.PORTAL_GREENHOUSE_CALLBACK_DOMAINS
    if not any(host == domain or host.endswith("." + domain) for domain in domains):
        return f"{host} is not in PORTAL_GREENHOUSE_CALLBACK_DOMAINS ({', '.join(domains) or 'none'})."
    return ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@transaction.atomic
def _claim(*, report_id: int, now: datetime) -> tuple[CompletionReport | None, dict | None]:
    """Lock the report and decide: (report, the body to send now) or (report, None) when there is
    nothing to send now (not pending, waiting for its result, refused, or nothing new)."""
    report = CompletionReport.objects.select_for_update(of=("self",)).select_related("test").filter(pk=report_id)
    report = report.first()
    if report is None or report.status != CompletionReport.Status.PENDING:
        return report, None
    test = report.test
    status = greenhouse_test_status(test=test)
    if status["partner_status"] not in FINAL_STATUSES:
        if now - report.created_at > WAIT_MAX:
            return _end(report, CompletionReport.Status.FAILED, error="The result was not complete in 7 days."), None
        report.next_attempt_at, report.task_sent_at = now + timedelta(seconds=WAIT_SECONDS), None
        report.save(update_fields=["next_attempt_at", "task_sent_at"])
        return report, None
    problem = callback_url_problem(test.callback_url)
    if problem:
        return _end(report, CompletionReport.Status.FAILED, error=f"Not sent: {problem}"), None
    payload = {"partner_interview_id": test.partner_interview_id, **status}
    last = test.reports.filter(status=CompletionReport.Status.SENT).order_by("-sent_at").first()
    if last is not None and last.payload == payload:
        report.payload = payload
        return _end(report, CompletionReport.Status.UNCHANGED), None
    report.attempts += 1
    report.payload = payload
    # Leased for the length of the call: the sweep sends it again only if this worker is lost.
    lease = settings.PORTAL_GREENHOUSE_CALLBACK_TIMEOUT + RESEND_AFTER.total_seconds()
    report.next_attempt_at, report.task_sent_at = now + timedelta(seconds=lease), None
    report.save(update_fields=["attempts", "payload", "next_attempt_at", "task_sent_at"])
    return report, payload


def _end(report: CompletionReport, status: str, *, error: str = "") -> CompletionReport:
    report.status = status
    report.error = error[:500]
    report.task_sent_at = None
    report.save(update_fields=["status", "error", "payload", "task_sent_at"])
    return report


def _patch(url: str, payload: dict) -> tuple[int | None, str, str]:
    """PATCH ``payload`` as JSON: (status code or None, the answer's start, the error if it failed)."""
    key = settings.PORTAL_GREENHOUSE_CALLBACK_KEY
    timeout = settings.PORTAL_GREENHOUSE_CALLBACK_TIMEOUT
    try:
        auth = (key, "") if key else None
        with httpx.stream("PATCH", url, json=payload, auth=auth, timeout=timeout, follow_redirects=False) as response:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= ANSWER_READ:
                    break
        text = body[:ANSWER_READ].decode("utf-8", "replace")[:ANSWER_KEPT]
        error = "" if response.is_success else f"Greenhouse answered {response.status_code}."
        return response.status_code, text, error
    except httpx.HTTPError as exc:
        return None, "", f"{type(exc).__name__}: {exc}"[:500]


def report_deliver(*, report_id: int, now: datetime | None = None) -> CompletionReport | None:
    """What the task ``ats.report`` runs: send the report if its result is complete, and record the
    answer; a failure is tried again RETRY_SECONDS later (by the sweep), then given up."""
    now = now or timezone.now()
    report, payload = _claim(report_id=report_id, now=now)
    if payload is None:
        return report
    url = report.test.callback_url
    status_code, body, error = _patch(url, payload)
    logger.info("completion report %s to %s: %s %s", report.pk, url, status_code, error or "sent")
    with transaction.atomic():
        current = CompletionReport.objects.select_for_update().filter(pk=report.pk).first()
        if current is None or current.status != CompletionReport.Status.PENDING or current.attempts != report.attempts:
            return current  # another delivery took over meanwhile: its outcome is the one kept
        current.response_status, current.response_body, current.error = status_code, body, error
        fields = ["response_status", "response_body", "error", "status", "sent_at", "next_attempt_at", "task_sent_at"]
        finished = timezone.now()
        if not error:
            current.status, current.sent_at = CompletionReport.Status.SENT, finished
        elif current.attempts > len(RETRY_SECONDS):
            current.status = CompletionReport.Status.FAILED
        else:
            current.next_attempt_at = finished + timedelta(seconds=RETRY_SECONDS[current.attempts - 1])
        current.task_sent_at = None
        current.save(update_fields=fields)
    return current


@transaction.atomic
def report_retry(*, report: CompletionReport, now: datetime | None = None) -> CompletionReport:
    """Send a failed report again (from the admin), with a fresh round of attempts."""
    report = CompletionReport.objects.select_for_update().get(pk=report.pk)
    if report.status != CompletionReport.Status.FAILED:
        return report
    if report.test.reports.filter(status=CompletionReport.Status.PENDING).exists():
        return report
    report.status, report.error = CompletionReport.Status.PENDING, ""
    report.attempts = 0
    report.next_attempt_at, report.task_sent_at = (now or timezone.now()) + RESEND_AFTER, None
    report.save(update_fields=["status", "error", "attempts", "next_attempt_at", "task_sent_at"])
    _send_task(report.pk)
    return report
