"""Git smart HTTP for invite repositories: authenticate, authorize, then hand over to
`git http-backend` and stream both ways (see backend.py for the mechanics)."""

import contextlib
import logging
import os
import re
import socket
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt

from portal.core import logcontext
from portal.core.database import database_retry
from portal.core.workers import basic_credentials, is_worker
from portal.hosting.backend import BackendError, BackendRequest, run_backend
from portal.hosting.gitrepo import HOOKS_DIR, MAIN_GUARD_HOOKS_DIR, RepoPolicy, repository_policy
from portal.hosting.hooks import push_recorded
from portal.hosting.receive import ProtocolError, PushRequest, Replay, drain, pkt, read_push, refusal
from portal.hosting.refpolicy import moves_main, object_limit_problem, push_problems
from portal.hosting.services import (
    auth_failure_record,
    auth_failures_clear,
    fetch_record,
    push_lock,
    push_record,
    push_refusal,
    repository_path,
    upload_pack_record,
)
from portal.hosting.slots import GIT_SLOTS, RETRY_AFTER
from portal.invites.models import Invite
from portal.invites.selectors import invite_for_git_credentials

logger = logging.getLogger(__name__)

PUBLIC_ID = re.compile(r"^[a-z2-7]{16}$")
SERVICES = {"git-upload-pack", "git-receive-pack"}
REALM = 'Basic realm="Assessment Portal", charset="UTF-8"'
# http-backend's own caching headers are replaced by Django's never-cache set.
DROPPED_HEADERS = {"cache-control", "expires", "pragma"}


def _plain(message: str, status: int, **headers: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    add_never_cache_headers(response)
    return response


def _service(request, service_path: str) -> str:
    """Which git service the request is for; anything else (dumb protocol, other files) is 404."""
    if service_path == "info/refs" and request.method in ("GET", "HEAD"):
        service = request.GET.get("service", "")
        if service not in SERVICES:
            raise Http404("Only git's smart HTTP protocol is served.")
        return service
    if service_path in SERVICES and request.method == "POST":
        return service_path
    raise Http404("Not a git smart HTTP path.")


@csrf_exempt
def git_http(request, public_id: str, service_path: str):
    """The git endpoint. Every recorded push is handed, in its transaction, to the
    ``hosting.push_recorded`` hook (portal/hosting/hooks.py), which scoring answers."""
    try:
        return _git_http(request, public_id, service_path)
    except (OperationalError, InterfaceError) as exc:
        # Before git http-backend ran (a push in progress waits for the database, see
        # _push_record_kept): nothing was kept, and git prints why.
        logger.warning("git request for %s refused: the database is unreachable: %s", public_id, exc)
        message = (
            f"The portal cannot reach its database right now; nothing was changed. Try again in {RETRY_AFTER} seconds."
        )
        # git prints the body of a refused ref advertisement, never that of a refused POST ("RPC
        # failed; HTTP 503"): a push or a fetch is answered in the service's own words instead.
        if service_path == "git-receive-pack" and request.method == "POST":
            refused = _push_refused_unreachable(request, message)
            if refused is not None:
                return refused
        if service_path == "git-upload-pack" and request.method == "POST":
            return _fetch_refused_unreachable(request, message)
        return _plain(message, 503, Retry_After=str(RETRY_AFTER))


# How much of a push or fetch body refused because the database is unreachable is read, so that git
# prints the answer: the sender is not yet known to be the candidate, so not a whole push's worth.
UNREACHABLE_DRAIN_LIMIT = 4 * 1024 * 1024


def _fetch_refused_unreachable(request, message: str) -> HttpResponse:
    """The answer to a clone or fetch refused because the database is unreachable: upload-pack's
    error packet, which git prints as "fatal: remote error: <message>" (protocol v0, v1 and v2)."""
    content_length = request.META.get("CONTENT_LENGTH") or None
    _request_dropped(
        request,
        request.META["wsgi.input"],
        content_length=int(content_length) if content_length else None,
        already=0,
        limit=UNREACHABLE_DRAIN_LIMIT,
    )
    response = HttpResponse(
        pkt(b"ERR " + message.encode("utf-8") + b"\n"), content_type="application/x-git-upload-pack-result"
    )
    add_never_cache_headers(response)
    return response


def _push_refused_unreachable(request, message: str) -> HttpResponse | None:
    """The answer to a push refused because the database is unreachable, in receive-pack's format:
    its commands as read so far (``request.portal_push``) or read now; None when they cannot be
    read (the plain 503 then answers)."""
    push = getattr(request, "portal_push", None)
    body = request.META["wsgi.input"]
    content_length = request.META.get("CONTENT_LENGTH") or None
    content_length = int(content_length) if content_length else None
    if push is None:
        if request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower() not in ("", "identity"):
            return None
        try:
            push = read_push(body, content_length=content_length, max_refs=settings.PORTAL_GIT_MAX_REFS_PER_PUSH)
        except (ProtocolError, OSError):
            return None
    if not push.commands:
        return None
    _request_dropped(
        request, body, content_length=content_length, already=len(push.head), limit=UNREACHABLE_DRAIN_LIMIT
    )
    response = HttpResponse(
        refusal(push, [message], reason=b"the portal's database is unreachable"),
        content_type="application/x-git-receive-pack-result",
    )
    add_never_cache_headers(response)
    return response


def _git_http(request, public_id: str, service_path: str):
    if not PUBLIC_ID.match(public_id):
        raise Http404("No such repository.")
    service = _service(request, service_path)
    address = request.META.get("REMOTE_ADDR")
    credentials = basic_credentials(request)
    if credentials is None:
        return _plain("Authentication required.", 401, WWW_Authenticate=REALM)
    user, password = credentials

    # The credentials are checked before any limit: a right password always gets in, whatever
    # others sharing the address, or trying this invite from elsewhere, got wrong.
    worker = is_worker(user, password)
    invite = None
    if worker:
        invite = Invite.objects.select_related("assessment_version").filter(public_id=public_id).first()
        if invite is None or service != "git-upload-pack":
            raise Http404("No such repository.")
    elif user == public_id:
        invite = invite_for_git_credentials(public_id=public_id, password=password)
    if invite is None:
        # Wrong password, unknown invite and another invite's credentials look the same.
        wait = auth_failure_record(address=address, username=public_id)
        if wait is not None:
            # git shows a text/plain body to the user: say how long to wait in the sentence too.
            return _plain(f"Too many failed sign-ins; try again in {wait} seconds.", 429, Retry_After=str(wait))
        return _plain("Invalid credentials for this repository.", 401, WWW_Authenticate=REALM)
    logcontext.bind(invite=invite.pk)  # until the response is closed: pushes are recorded while it streams
    if worker:
        # Scoring workers are few (their concurrency) and trusted: they are never turned away.
        return _serve(request, invite=invite, service=service, service_path=service_path, is_worker=True)
    auth_failures_clear(address=address, username=public_id)
    if invite.status == Invite.Status.REVOKED:
        return _plain("This invite has been revoked.", 403)

    slot = GIT_SLOTS.take(
        invite.public_id,
        total=settings.PORTAL_GIT_MAX_REQUESTS,
        per_key=settings.PORTAL_GIT_MAX_REQUESTS_PER_INVITE,
        # A burst waits for a slot rather than being turned away: git does not retry a refused push.
        wait=settings.PORTAL_GIT_SLOT_WAIT,
    )
    if isinstance(slot, str):
        logger.warning("git request for %s refused: too many at once (%s)", invite.public_id, slot)
        if slot == "key":
            # This candidate's own connections: the one refusal a burst of honest pushes never meets.
            return _plain(
                f"Too many git requests for this repository at once; try again in {RETRY_AFTER} seconds.",
                429,
                Retry_After=str(RETRY_AFTER),
            )
        return _plain(
            f"The portal is busy with other git requests; try again in {RETRY_AFTER} seconds.",
            503,
            Retry_After=str(RETRY_AFTER),
        )
    try:
        response = _serve(request, invite=invite, service=service, service_path=service_path, is_worker=False)
    except BaseException:
        slot.release()
        raise
    # Closing the response (the server always does, even when the client went away) frees the slot.
    response._resource_closers.append(slot.release)
    return response


def _serve(request, *, invite: Invite, service: str, service_path: str, is_worker: bool):
    repo = repository_path(invite)
    is_push_body = service_path == "git-receive-pack"
    # Every clone, fetch or ls-remote of a git client starts with exactly one advertisement
    # request, recorded once it has been sent; the POSTs that follow (one or more) are recorded
    # only when they come without it (upload_pack_record), as a hand-made request may.
    is_fetch_start = service_path == "info/refs" and service == "git-upload-pack"
    is_fetch_body = service_path == "git-upload-pack"
    content_length = request.META.get("CONTENT_LENGTH") or None
    content_length = int(content_length) if content_length else None
    body = request.META["wsgi.input"]  # the raw WSGI stream: Django's request.body would be empty for chunked bodies
    hooks_dir = HOOKS_DIR
    if is_push_body:
        # The push's commands are judged here, before git runs (no hook process per push).
        checked = _push_checked(request, invite, repo, body=body, content_length=content_length)
        if isinstance(checked, HttpResponse):
            return checked
        if not checked.commands:
            # git's probe before a large push (a lone flush): receive-pack would read no more and
            # answer an empty result, so the view does, without starting git or taking the push lock.
            _request_dropped(request, body, content_length=content_length, already=len(checked.head), limit=65536)
            response = HttpResponse(b"", content_type="application/x-git-receive-pack-result")
            add_never_cache_headers(response)
            return response
        body = Replay(checked.head, body)
        if moves_main(checked.commands):
            # Whether main is rewound needs the pushed objects: a pre-receive hook for these pushes only.
            hooks_dir = MAIN_GUARD_HOOKS_DIR
    extra_env = {}
    # The hooks of this installation, whatever path the repository was created with: the code
    # and the data directory may each move (an upgrade, a restore) without touching every repository.
    config = [("core.hooksPath", str(hooks_dir))]
    if is_worker:
        # Workers fetch commits by id, including ones only hidden refs keep.
        config.append(("uploadpack.allowAnySHA1InWant", "true"))
    if is_push_body:
        # gc.auto is 0 (gitplumbing.SAFE_CONFIG): `git gc --auto` after a push would only start and exit.
        config.append(("receive.autogc", "false"))
    log_path = None
    if is_push_body:
        handle, log_name = tempfile.mkstemp(prefix="push-", suffix=".log", dir=repo)
        os.close(handle)
        log_path = Path(log_name)
        extra_env["PORTAL_PUSH_LOG"] = str(log_path)

    backend_request = BackendRequest(
        method=request.method,
        git_dir=str(repo),
        service_path=service_path,
        query_string=request.META.get("QUERY_STRING", ""),
        content_type=request.META.get("CONTENT_TYPE", ""),
        content_length=content_length,
        body=body,
        remote_user=invite.public_id,
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""),
        git_protocol=request.META.get("HTTP_GIT_PROTOCOL", ""),
        config=config,
        extra_env=extra_env,
    )
    cleanup = ExitStack()
    try:
        if is_push_body:
            cleanup.enter_context(push_lock(invite))
            cleanup.callback(log_path.unlink, missing_ok=True)
            # Pushes kept while the database was down are recorded before this one, in their order.
            _pending_pushes_record(invite, current=log_path)
        backend = run_backend(backend_request, timeout=settings.PORTAL_GIT_TIMEOUT)
    except BackendError as exc:
        cleanup.close()
        logger.warning("git http-backend failed for %s: %s", invite.public_id, exc)
        return _plain(f"git request failed: {exc}", 400)
    except BaseException:
        cleanup.close()
        raise
    # Closing the response (always done by the server, even if the body was never
    # read) stops the backend and releases the lock; ExitStack runs each step once.
    if backend.status >= 500:
        # Registered before close, so it runs after it (last in, first out): git's own words once
        # it has exited, for example "detected dubious ownership" when the data directory has
        # another owner than the web server's user.
        cleanup.callback(_log_backend_failure, invite, backend)
    cleanup.callback(backend.close)

    address = request.META.get("REMOTE_ADDR")
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    if is_fetch_body and not is_worker and backend.status == 200:
        # Before the first byte of the pack: a client that takes the code and hangs up before the
        # end has still fetched it, and its clock runs.
        try:
            upload_pack_record(invite=invite, address=address)
        except BaseException:
            cleanup.close()
            raise

    def finish() -> None:
        if is_push_body and log_path is not None:
            _push_record_kept(invite, log_path, address=address, user_agent=user_agent)
        elif is_fetch_start and not is_worker and backend.status == 200:
            fetch_record(invite=invite, address=address)

    def body():
        held = None
        for chunk in backend.body:
            if held is not None:
                yield held
            held = chunk
        # Recorded before the last bytes go out, so that when `git push` returns
        # the push is already in the database.
        finish()
        if held is not None:
            yield held

    response = StreamingHttpResponse(body(), status=backend.status)
    # The rest (reaping git, the push log, the push lock) is done when the server closes the
    # response, which it always does, whether the body was sent in full, failed or was cut short;
    # after the last bytes and the end of the chunked body, so the client does not wait for it.
    response._resource_closers.append(cleanup.close)
    for name, value in backend.headers:
        if name.lower() not in DROPPED_HEADERS:
            response[name] = value
    add_never_cache_headers(response)
    return response


def _push_checked(
    request, invite: Invite, repo: Path, *, body, content_length: int | None
) -> PushRequest | HttpResponse:
    """Read a push's commands and pack header and judge them (refpolicy.py); the request read so
    far to hand git, or the answer to a push refused (in receive-pack's own format) or malformed."""
    if request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower() not in ("", "identity"):
        return _plain(
            "A push body cannot have a Content-Encoding (git never compresses one); nothing was changed.", 415
        )
    max_refs = settings.PORTAL_GIT_MAX_REFS_PER_PUSH
    try:
        push = read_push(body, content_length=content_length, max_refs=max_refs)
        request.portal_push = push  # what was read, should the database fail before git runs
    except ProtocolError as exc:
        logger.warning("push to %s refused: malformed request: %s", invite.public_id, exc)
        return _plain(f"Not a valid push request: {exc} Nothing was changed.", 400)
    except OSError as exc:
        # The client stopped sending (gunicorn's NoMoreData is an OSError, so is the idle timeout).
        logger.warning("push to %s: the request body stopped arriving: %s", invite.public_id, exc)
        return _plain("The push request ended early; nothing was changed.", 400)
    if not push.commands:
        # git's probe before a large push ("0000"), or nothing to do: answered by _serve.
        return push
    policy = repository_policy(
        repo,
        default=RepoPolicy(
            max_input_bytes=settings.PORTAL_GIT_MAX_PUSH_MB * 1024 * 1024, max_objects=settings.PORTAL_GIT_MAX_OBJECTS
        ),
    )
    problems = push_problems(
        push.commands,
        refused=push_refusal(invite=invite),
        max_refs=max_refs,
        count=push.count,
        counted_all=push.counted_all,
    )
    if not problems and push.objects is not None:
        # The pack's own count: what git would store, reachable or not.
        problem = object_limit_problem(push.objects, policy.max_objects)
        problems = [problem] if problem else []
    if not problems:
        return push
    logger.info("push to %s refused before git ran: %s", invite.public_id, "; ".join(problems))
    # The client reads the answer once it has sent its body: the rest is read (up to the size git
    # would accept) so that it prints the reasons rather than a broken transfer.
    _request_dropped(
        request, body, content_length=content_length, already=len(push.head), limit=policy.max_input_bytes + 65536
    )
    response = HttpResponse(refusal(push, problems), content_type="application/x-git-receive-pack-result")
    add_never_cache_headers(response)
    return response


def _request_dropped(request, body, *, content_length: int | None, already: int, limit: int) -> None:
    """Read and drop the rest of a push answered without git, up to ``limit`` bytes in all; past
    that, stop reading the connection (the server then closes it after the answer)."""
    if not drain(body, content_length=content_length, already=already, limit=limit):
        connection = request.META.get("gunicorn.socket")
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)


# Where the ref updates of a push that could not be recorded wait, in the repository, for the next push.
PENDING_PUSHES = "portal-pending-pushes"


def _push_record_kept(invite: Invite, log_path: Path, *, address, user_agent: str) -> None:
    """Record the push whose ref updates are in ``log_path`` (git http-backend has already kept it).

    The database may be restarting: the record is tried again while it comes back
    (core.database.database_retry). Should it stay away longer, the updates are set aside in the
    repository and recorded before the invite's next push, and git is still told the push
    succeeded, because it did: its commits and refs are in the repository.
    """
    updates = _read_push_log(log_path)
    if not updates:
        return

    def record() -> None:
        with transaction.atomic():
            push = push_record(invite=invite, updates=updates, address=address, user_agent=user_agent)
            push_recorded(push=push)

    try:
        database_retry(record, what=f"recording a push to {invite.public_id}")
    except DatabaseError as exc:
        pending = log_path.parent / PENDING_PUSHES
        pending.mkdir(exist_ok=True)
        kept = pending / f"{time.time_ns():020d}.log"
        log_path.replace(kept)
        logger.error("push to %s kept, not recorded (%s); recorded with its next push: %s", invite.public_id, exc, kept)


def _pending_pushes_record(invite: Invite, *, current: Path) -> None:
    """Record, oldest first, the pushes that were kept but never recorded: set aside while the
    database was unreachable, or left by a web process that died between git and the database.

    Called under the repository's push lock: any other push's log with updates in it belongs to a
    push that finished without being recorded (a push waiting for the lock has no updates yet).
    """
    repo = repository_path(invite)
    pending = repo / PENDING_PUSHES
    orphans = [path for path in repo.glob("push-*.log") if path != current and path.stat().st_size]
    kept_logs = sorted(pending.glob("*.log")) if pending.is_dir() else []
    for kept in kept_logs + sorted(orphans, key=lambda path: path.stat().st_mtime):
        updates = _read_push_log(kept)
        if updates:
            with transaction.atomic():
                push = push_record(invite=invite, updates=updates, address=None, user_agent="(recorded late)")
                push_recorded(push=push)
        kept.unlink()
        logger.info("a push to %s kept while the database was unreachable is recorded now", invite.public_id)


def _log_backend_failure(invite: Invite, backend) -> None:
    stderr = bytes(backend.stderr_tail).decode(errors="replace").strip()
    logger.error("git http-backend answered %s for %s: %s", backend.status, invite.public_id, stderr or "(no message)")


def _read_push_log(path: Path) -> list[tuple[str, str, str]]:
    updates = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    return updates
