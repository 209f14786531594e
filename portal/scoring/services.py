"""Scoring a commit: export it, serve it in the sandbox, grade it from the trusted side, store a Run.

How work reaches here:
  a push      -> push_score(push=...)       (the hosting.push_recorded hook, connected in apps.py)
  a finished run, a push that queued no run, a rescore -> analysis_request(invite=...)
                 -> task "analysis.invite" (at most one waiting per invite)
                 (portal.scoring.analysis computes findings, signals and the integrated run once)

A run's play (``run_execute``): claim it, export the commit, build, serve the app and run the hidden
tests against it with nothing of the candidate's beside them, record the verdict (status, verdicts,
event, analysis request, the invite's next run handed over), and only then run the candidate's own
visible tests (information only) on the same tree and record their summary in ``run.visible``
(pending until then; reused, never played twice, when this run or another has them for the same tree
on the same assessment version). A worker that dies between the two leaves them pending: the sweep
sends "scoring.visible".
``run.timings`` holds each phase (seconds): export, runtime, build, app_start, hidden, teardown,
total (claimed to verdict recorded), then record (writing the verdict) and visible.

Tasks are sent by name (portal.core.dispatch); this module imports no tasks module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

import gitplumbing
from grader.clock import WALL_FACTOR, Usage
from grader.junit import TestOutcome
from grader.local import AppStartError, BuildError
from grader.manifest import Manifest
from grader.play import App, play
from grader.run import GraderError, HiddenRun, OutOfTime, VisibleRun, new_seed, run_hidden_tests
from grader.verdicts import ticket_verdicts
from portal.assessments.runner import SandboxRunner
from portal.assessments.services import PackageFetchError, assessment_runtime, assessment_services, version_manifest
from portal.core.database import database_retry
from portal.core.datadir import cache_dir, has_data_dir
from portal.core.dispatch import send_on_commit
from portal.core.models import WorkerHeartbeat
from portal.core.services import AttemptsExhausted, task_attempt_begin, task_attempt_clear
from portal.hosting.gitrepo import loose_ref
from portal.hosting.models import Push
from portal.hosting.services import repository_path
from portal.invites.emails import emails_unsent_send
from portal.invites.models import Event, Invite
from portal.invites.services import event_record
from portal.scoring.export import TreeTooLarge, commit_fetch, tree_export
from portal.scoring.models import (
    VISIBLE_DONE,
    VISIBLE_FAILED,
    VISIBLE_PENDING,
    InviteAnalysis,
    Run,
    TestResult,
    TicketVerdict,
    visible_state,
)
from portal.scoring.requirements import node_dependencies_changed, requirements_policy_note
from portal.scoring.version import GRADER_VERSION
from sandbox import Result, SandboxError

logger = logging.getLogger(__name__)

# Task names (portal/scoring/tasks.py registers them). "scoring.*" goes to the scoring queue;
# the analysis reads the repositories, so it runs on the default queue, beside the data.
TASK_RUN = "scoring.run"
TASK_ANALYSE = "analysis.invite"
# Repairs what a failure left behind (runs never sent, lost, or on a dead worker); sent by beat.
TASK_SWEEP = "scoring.sweep"
# Counts the plays of a run that the worker host's other work starved (TaskAttempt, key: the run id).
TASK_STARVED = "scoring.starved"
# Runs only the visible tests of a finished run whose visible results stayed pending (its worker died
# between the verdict and them); sent by the sweep. Counts its plays under the same name (TaskAttempt).
TASK_VISIBLE = "scoring.visible"

LOG_CAP = 20_000
MESSAGE_CAP = 2_000
MAX_ATTEMPTS = 3
# A run starved by the host's other work is played this many times in all before it is an error.
STARVED_PLAYS = 3
MAIN_REF = "refs/heads/main"
# The visible tests of one run are played this many times in all (the run's own play, then the
# sweep's tasks) before its visible results say that they could not be run.
VISIBLE_ATTEMPTS = 3


def run_queue(*, invite: Invite, commit: str, ref: str) -> tuple[Run, bool]:
    """The run of ``commit`` under the current grader; whether this call queued it.

    A commit is scored once, whatever refs point at it. A new run, or one that was superseded
    and is wanted again (a branch moved back to it), waits for the invite's turn (runs_dispatch).
    """
    return _runs_queue(invite=invite, wanted=[(commit, ref)])[0]


def _runs_queue(
    *, invite: Invite, wanted: list[tuple[str, str]], invite_locked: bool = False
) -> list[tuple[Run, bool]]:
    """run_queue for each (commit, ref) of ``wanted``, in order, reading the existing runs at once
    and dispatching once; ``invite_locked``: the caller's transaction holds the invite's row lock."""
    now = timezone.now()
    found = {
        run.commit: run
        for run in Run.objects.filter(
            invite=invite, grader_version=GRADER_VERSION, commit__in={commit for commit, _ref in wanted}
        )
    }
    queued = []
    for commit, ref in wanted:
        run, created = found.get(commit), False
        if run is None:
            run, created = _run_create(invite=invite, commit=commit, ref=ref, now=now)
            found[commit] = run
        if not created and run.status == Run.Status.SUPERSEDED:
            created = bool(
                Run.objects.filter(pk=run.pk, status=Run.Status.SUPERSEDED).update(
                    status=Run.Status.QUEUED, ref=ref, reason="", queued_at=now, finished_at=None, dispatched_at=None
                )
            )
            run.refresh_from_db()
        queued.append((run, created))
    if any(created for _run, created in queued):
        runs_dispatch(invite=invite, invite_locked=invite_locked)
    return queued


def _run_create(*, invite: Invite, commit: str, ref: str, now) -> tuple[Run, bool]:
    fields = {"invite": invite, "commit": commit, "grader_version": GRADER_VERSION}
    defaults = {"ref": ref, "assessment_version": invite.assessment_version, "queued_at": now}
    try:
        with transaction.atomic():
            return Run.objects.create(**fields, **defaults), True
    except IntegrityError:  # a concurrent push of the same commit created it first
        return Run.objects.get(**fields), False


def runs_dispatch(*, invite: Invite, invite_locked: bool = False) -> int:
    """Hand the invite's waiting runs to the workers, oldest first, while fewer than
    PORTAL_RUNS_IN_FLIGHT_PER_INVITE of its runs are queued at the broker or running; return how many.

    The others wait in the database: however often a candidate pushes, the broker's queue holds at
    most that many of their runs, so another candidate's run waits behind at most that many. Called
    when a run is queued, finishes or is superseded. The invite's row is locked (here, unless the
    caller's transaction holds the lock already: ``invite_locked``), so two callers never both fill
    the same free place.
    """
    with transaction.atomic(savepoint=False):
        if not invite_locked:
            Invite.objects.select_for_update().filter(pk=invite.pk).first()
        in_flight = Run.objects.filter(invite=invite, status__in=Run.ACTIVE, dispatched_at__isnull=False).count()
        free = settings.PORTAL_RUNS_IN_FLIGHT_PER_INVITE - in_flight
        if free <= 0:
            return 0
        waiting = list(
            Run.objects.filter(invite=invite, status=Run.Status.QUEUED, dispatched_at__isnull=True)
            .order_by("queued_at", "pk")
            .values_list("pk", flat=True)[:free]
        )
        now = timezone.now()
        for run_id in waiting:
            _hand_over(run_id, now=now)
    return len(waiting)


def _hand_over(run_id: int, *, now) -> int:
    """Give the run a new attempt and send its task once the transaction commits; the attempt.

    Only a task carrying the run's current attempt may claim it, so a message the broker delivers
    late, twice, or after the run was sent again changes nothing. ``sent_at`` is written only once
    the broker took the message: a run handed over while the broker was down stays unsent, and
    ``runs_sweep`` sends it again.
    """
    Run.objects.filter(pk=run_id).update(
        dispatched_at=now, sent_at=None, attempt=F("attempt") + 1, started_at=None, worker_pid=None
    )
    attempt = Run.objects.filter(pk=run_id).values_list("attempt", flat=True).get()

    def sent() -> None:
        Run.objects.filter(pk=run_id, attempt=attempt, sent_at__isnull=True).update(sent_at=timezone.now())

    send_on_commit(TASK_RUN, run_id=run_id, attempt=attempt, on_sent=sent)
    return attempt


def runs_supersede(*, invite: Invite, refs: str, keep: set[str], reason: str, invite_locked: bool = False) -> int:
    """Mark the invite's runs still waiting for a worker, queued for a ref starting with ``refs``
    whose commit is not in ``keep``, as superseded (never run, with ``reason``); return how many.

    A run a worker has taken is left to finish. The freed places go to the next waiting runs.
    """
    stale = Run.objects.filter(invite=invite, status=Run.Status.QUEUED, ref__startswith=refs).exclude(commit__in=keep)
    superseded = stale.update(status=Run.Status.SUPERSEDED, reason=reason, finished_at=timezone.now())
    if superseded:
        runs_dispatch(invite=invite, invite_locked=invite_locked)
    return superseded


@transaction.atomic(savepoint=False)
def push_score(*, push: Push) -> list[Run]:
    """Everything a recorded push sets off: a run per pushed branch head, and the analysis.

    The starting point is scored with the first push (a branch's regressions are measured
    against it); later pushes find its run and add nothing. Deleted refs and tags queue nothing.
    Runs still waiting for a commit that no branch points at any more (the branch moved on or was
    deleted) are superseded: only what the result depends on is scored.
    """
    # In the transaction that recorded the push, push_record has locked the invite's row and read
    # it with its repository and assessment version (Push.invite_locked); otherwise it is done here.
    invite_locked = push.invite_locked
    if invite_locked:
        invite = push.invite
    else:
        invite = (
            Invite.objects.select_for_update(of=("self",))
            .select_related("assessment_version", "repository")
            .get(pk=push.invite_id)
        )
        invite_locked = True
    base = invite.repository.base_commit
    heads_pushed = [
        (update.new_sha, update.ref)
        for update in push.updates()
        if update.new_sha != gitplumbing.ZERO_SHA and update.ref.startswith("refs/heads/")
    ]
    known_heads = {base, *(commit for commit, _ref in heads_pushed)}
    repo = repository_path(invite)
    waiting = Run.objects.filter(invite=invite, status=Run.Status.QUEUED, ref__startswith="refs/heads/")
    # The branch heads are read (a git process, in the push's answer) only when a run is waiting for
    # a commit that is neither the starting point, nor one this push has just put at a branch head,
    # nor still at the head of the branch it was queued for (its loose ref file says so).
    if any(
        commit not in known_heads and loose_ref(repo, ref) != commit
        for commit, ref in waiting.values_list("commit", "ref")
    ):
        runs_supersede(
            invite=invite,
            refs="refs/heads/",
            keep={base, *gitplumbing.heads(repo).values()},
            reason="the branch moved on before a worker took this run; its new head is scored instead",
            invite_locked=invite_locked,
        )
    queued = _runs_queue(invite=invite, wanted=[(base, MAIN_REF), *heads_pushed], invite_locked=invite_locked)
    if not any(created for _run, created in queued):
        # Nothing to score (a deletion, a tag, commits already scored): analyse now. Otherwise the
        # runs this push queued ask for it as they finish, after this transaction: one analysis per
        # run rather than per push, however fast a candidate pushes.
        analysis_request(invite=invite)
    return [run for run, _created in queued]


# A task sent longer ago than this and never started is taken as lost (a broker restarted without
# its queue): the next request sends another. A duplicate is harmless, the task is idempotent.
ANALYSIS_TASK_LOST_AFTER = timedelta(minutes=10)


def analysis_request(*, invite: Invite) -> None:
    """Ask for the invite's analysis to be computed again (once, however often it is asked).

    A task is sent only when none is already waiting for a worker (``task_sent_at``; the task
    clears it as it starts): a candidate pushing every second has one analysis waiting at most,
    not one per push, and cannot fill the workers' queue with them.
    """
    analysis, _ = InviteAnalysis.objects.get_or_create(invite=invite)
    InviteAnalysis.objects.filter(pk=analysis.pk).update(requested=F("requested") + 1)
    now = timezone.now()
    sent = (
        InviteAnalysis.objects.filter(pk=analysis.pk)
        .filter(Q(task_sent_at__isnull=True) | Q(task_sent_at__lt=now - ANALYSIS_TASK_LOST_AFTER))
        .update(task_sent_at=now)
    )
    if sent:
        send_on_commit(TASK_ANALYSE, invite_id=invite.pk)


def this_process() -> str:
    """A name for a process that scores runs outside a Celery worker (a command, a test)."""
    return f"process@{socket.gethostname()}"


def _claim(run_id: int, *, attempt: int | None, worker: str) -> Run | None:
    """Move the run to running for this worker; None if the task is not the run's current attempt,
    another worker has it, or it is done.

    ``attempt`` None is a task sent before runs had attempts (an upgrade): it may take a queued run.
    The same attempt delivered again while the run is running (a duplicate, or the broker's
    redelivery after the worker process died) takes it over only if the process that had it is gone.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in Run.ACTIVE:  # done, superseded, or gone
            return None
        if attempt is not None and attempt != run.attempt:
            logger.info("run %s: a task of attempt %s arrived at attempt %s; ignored", run_id, attempt, run.attempt)
            return None
        logger.debug(
            "run %s: task of attempt %s taken by %s (pid %s); the run is %s at attempt %s, by %s (pid %s)",
            run_id,
            attempt,
            worker,
            os.getpid(),
            run.status,
            run.attempt,
            run.worker,
            run.worker_pid,
        )
        if run.status == Run.Status.RUNNING and not _claimant_gone(run, worker=worker):
            logger.info("run %s is already being scored by %s; a duplicate task is ignored", run_id, run.worker)
            return None
        run.status = Run.Status.RUNNING
        run.started_at = timezone.now()
        run.worker = worker
        run.worker_pid = os.getpid()
        run.save(update_fields=["status", "started_at", "worker", "worker_pid"])
        return run


def _claimant_gone(run: Run, *, worker: str) -> bool:
    """Whether the process that claimed this running run is gone (so its task may be taken over)."""
    if not run.worker:
        return False  # claimed by an older release: left to the reaper
    if run.worker == worker:
        # This worker's own pool: the process that had it died (or is this one, free again).
        return run.worker_pid is None or run.worker_pid == os.getpid() or not _pid_alive(run.worker_pid)
    beat = WorkerHeartbeat.objects.filter(name=run.worker).first()
    return beat is not None and (beat.stopped_at is not None or beat.seen_at < timezone.now() - _dead_after())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_after() -> timedelta:
    return timedelta(seconds=settings.PORTAL_WORKER_DEAD_AFTER)


def reason_capped(reason: str, cap: int = MESSAGE_CAP) -> str:
    """``reason`` within ``cap`` characters, keeping what matters at both ends: its first line (what
    ended the run: the limit, the exit code) and its last lines (where an exception's last lines
    are, after any amount of output); the middle gives way."""
    if len(reason) <= cap:
        return reason
    first, _, rest = reason.partition("\n")
    first = first[: cap // 4]
    marker = "\n[…]\n"
    return first + marker + rest[-(cap - len(first) - len(marker)) :]


def run_result_rows(
    *, run: Run, manifest: Manifest, outcomes: list[TestOutcome]
) -> tuple[list[TestResult], list[TicketVerdict]]:
    """The rows a scored run stores (unsaved): each hidden test's outcome, with its points and whether it
    is a regression guard, and each ticket's verdict with the points it earns (grader.verdicts)."""
    results = [
        TestResult(
            run=run,
            test_id=o.test_id,
            ticket=o.ticket,
            outcome=o.outcome,
            duration=o.duration,
            message=(o.message or "")[:MESSAGE_CAP],
            guard=o.guard,
            points=o.points,
        )
        for o in outcomes
    ]
    verdicts = [
        TicketVerdict(
            run=run,
            ticket=v.ticket,
            passed=v.passed,
            tests_passed=v.tests_passed,
            tests_total=v.tests_total,
            earned=v.earned,
        )
        for v in ticket_verdicts(manifest, outcomes)
    ]
    return results, verdicts


def _finish(run: Run, *, status: str, reason: str = "", write=None, **fields) -> Run:
    """Record how the run ended (and, with ``write``, its results) if this play still owns the run.

    A play whose run was taken over meanwhile (its worker looked dead and the run was sent again)
    records nothing: only the current attempt's results are kept, so a run is scored exactly once.
    """

    def record() -> Run:
        with transaction.atomic():
            current = Run.objects.select_for_update().filter(pk=run.pk).first()
            if current is None or current.attempt != run.attempt or current.status != Run.Status.RUNNING:
                logger.warning(
                    "run %s: attempt %s ended (%s) after the run was taken over; its results are dropped",
                    run.pk,
                    run.attempt,
                    status,
                )
                return current or run
            # Results of an earlier play (a retry) never stay beside this one's ending.
            TestResult.objects.filter(run=run).delete()
            TicketVerdict.objects.filter(run=run).delete()
            if write is not None:
                write()
            run.status = status
            run.reason = reason_capped(reason)
            run.finished_at = timezone.now()
            # What an earlier play of this run (a retry) left is replaced, not kept beside this one's.
            for name, value in {"timings": {}, "sandbox": {}, "visible": {}, "log": "", **fields}.items():
                setattr(run, name, value)
            if run.started_at:
                run.timings = {**(run.timings or {}), "total": (run.finished_at - run.started_at).total_seconds()}
            run.save()
            event_record(
                invite=run.invite,
                kind=Event.Kind.SCORED,
                data={"run": run.pk, "commit": run.commit, "ref": run.ref, "status": status},
            )
            # The matrix, regressions and scope creep depend on this run: have them recomputed.
            analysis_request(invite=run.invite)
            # Its place in flight goes to the invite's next waiting run.
            runs_dispatch(invite=run.invite)
        return run

    # The results are in memory: a database restarting now must not lose them.
    return database_retry(record, what=f"recording the end of run {run.pk}")


def run_execute(*, run_id: int, attempt: int | None = None, worker: str = "") -> Run | None:
    """Score one run; idempotent and safe to call again after a worker died.

    ``attempt`` is the one the task was sent for (see ``_hand_over``); ``worker`` the Celery node
    name, recorded on the run.
    """
    run = _claim(run_id, attempt=attempt, worker=worker or this_process())
    if run is None:
        return Run.objects.filter(pk=run_id).first()
    try:
        # Counted once claimed (a duplicate task counts nothing), committed before the work.
        task_attempt_begin(task=TASK_RUN, key=str(run_id), max_attempts=MAX_ATTEMPTS)
    except AttemptsExhausted as exc:
        return _finish(run, status=Run.Status.ERROR, reason=f"scoring stopped the worker {exc.attempts - 1} times")
    if run.grader_version != GRADER_VERSION:
        # A worker of another release: its verdicts would carry a grader version they do not have.
        return _finish(
            run,
            status=Run.Status.ERROR,
            reason=f"this worker runs grader {GRADER_VERSION}, the run needs grader {run.grader_version}: "
            "upgrade the worker, then retry (rescore --errors)",
        )
    try:
        return _score(run)
    except (OperationalError, InterfaceError) as exc:
        # The database went away mid-run (a restart): nothing is the candidate's fault, play it again.
        logger.warning("run %s lost the database while scoring (%s); it is sent again", run.pk, exc)
        database_retry(
            lambda: run_resend(run=run, why="the database was unreachable while it was scored"), what="resending"
        )
        raise
    except Exception as exc:  # a failure of the portal, not of the candidate: recorded, then raised for the logs
        logger.exception("scoring run %s failed", run.pk)
        _finish(run, status=Run.Status.ERROR, reason=f"internal error while scoring: {exc.__class__.__name__}")
        raise


def _repository(run: Run) -> Path:
    """The repository holding the run's commit: the invite's own, or this host's fetched copy."""
    if has_data_dir():
        local = repository_path(run.invite)
        if local.exists():
            return local
    # A worker without the data directory: fetch the commit from the web server (kept in the cache).
    destination = cache_dir() / "repos" / f"{run.invite.public_id}.git"
    return commit_fetch(invite=run.invite, commit=run.commit, destination=destination)


def _score(run: Run) -> Run:
    """Export the commit, play it with nothing of the candidate's beside the hidden tests, record the
    verdict, then run the visible tests (information only) on the same tree and record their summary.

    The verdict is recorded as soon as the hidden tests end and the app is gone: until the visible
    tests are recorded too, ``run.visible`` is pending (``VISIBLE_PENDING``). Visible results already
    known for the same commit and assessment version (another run of it) are reused instead.
    """
    if run.seed is None:
        # Drawn once and kept: a retry of this run (rescore) sends the same hidden-test data again.
        run.seed = new_seed()
        run.save(update_fields=["seed"])
    try:
        manifest = version_manifest(run.assessment_version)
    except PackageFetchError as exc:
        return _finish(run, status=Run.Status.ERROR, reason=f"the assessment could not be fetched: {exc}")
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="score-") as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        started = time.monotonic()
        repo = _repository(run)
        try:
            tree_export(repo=repo, commit=run.commit, destination=tree)
        except TreeTooLarge as exc:
            return _finish(run, status=Run.Status.ERROR, reason=str(exc))
        timings["export"] = time.monotonic() - started
        # Nothing of the candidate's is installed: a scored run says what their requirements asked for in vain.
        note = requirements_policy_note(tree=tree, manifest=manifest)

        budget = settings.PORTAL_RUN_BUDGET_SECONDS
        started = time.monotonic()
        try:
            runtime = assessment_runtime(manifest=manifest)
            services = assessment_services(manifest=manifest)
        except SandboxError as exc:
            return _finish(run, status=Run.Status.ERROR, reason=f"the sandbox is unavailable: {exc}")
        timings["runtime"] = time.monotonic() - started
        # The budget counts from here: every step of the candidate's code is cut to what is left of it.
        runner = SandboxRunner(
            manifest=manifest, runtime=runtime, deadline=time.monotonic() + budget, services=services
        )

        graded = _grade(run, manifest=manifest, runner=runner, budget=budget, tree=tree, timings=timings)
        if graded.starved:
            return _starved(run, why=graded.starved)
        # Read before the verdict replaces this run's own summary (a rescore of the same commit).
        own = _visible_own(run)
        attempt, recorded = run.attempt, time.monotonic()
        run = _verdict_record(
            run, manifest=manifest, graded=graded, note=note, timings=timings, visible=own or _visible_pending(run)
        )
        after = {"record": time.monotonic() - recorded}
        if not _visible_is_pending(run, attempt=attempt):
            # Its own, or the run was taken over meanwhile: nothing more to play.
            if run.attempt == attempt and run.finished:
                _timings_add(run, after)
            return run
        tree_id = _tree_of(run, repo)
        found = _visible_found(run, tree=tree_id)
        if found is not None:
            return _visible_record(run, summary=found, timings=after, key=f"{run.pk}:{run.attempt}")
        if (exhausted := _visible_exhausted(run, timings=after)) is not None:
            return exhausted
        return _visible_play(run, tree=tree, tree_id=tree_id, runner=runner, built=True, timings=after)


def _verdict_record(run: Run, *, manifest: Manifest, graded: _Graded, note: str, timings: dict, visible: dict) -> Run:
    """Record the run's end from what its play gave: the verdicts, or why there are none."""
    hidden, reason = graded.hidden, graded.reason
    sandbox = _sandbox_summary(graded.app_result)
    grader = hidden.grader if hidden is not None else graded.grader
    if grader is not None and grader.cpu is not None:
        # What the trusted pytest used beside the app's sandbox: with it, what the run cost.
        sandbox["grader_cpu_time"] = grader.cpu
    log = "\n".join(filter(None, [reason, hidden.output if hidden else "", sandbox.get("output", "")]))[-LOG_CAP:]
    if hidden is None:
        return _finish(
            run, status=Run.Status.ERROR, reason=reason, timings=timings, sandbox=sandbox, visible=visible, log=log
        )
    results, verdicts = run_result_rows(run=run, manifest=manifest, outcomes=hidden.outcomes)

    def write() -> None:
        TestResult.objects.bulk_create(results)
        TicketVerdict.objects.bulk_create(verdicts)

    status = Run.Status.PASSED if all(v.passed for v in verdicts) else Run.Status.FAILED
    return _finish(
        run, status=status, reason=note, write=write, timings=timings, sandbox=sandbox, visible=visible, log=log
    )


@dataclass
class _Graded:
    """What serving a run's app and grading it gave."""

    hidden: HiddenRun | None = None
    app_result: Result | None = None
    reason: str = ""  # why the run has no verdicts
    starved: str = ""  # why the worker host's other work, not the code, stopped the run
    grader: Usage | None = None  # what the trusted pytest used


def _grade(
    run: Run,
    *,
    manifest: Manifest,
    runner: SandboxRunner,
    budget: float,
    tree: Path,
    timings: dict[str, float],
) -> _Graded:
    """Play the commit's tree (grader.play: build, serve the app and the hidden tests against it, with
    nothing of the candidate's beside them: the visible tests run after the verdict), within the budget.

    ``timings`` gets the play's steps (build, app_start, hidden) and ``teardown``: from the hidden tests'
    end (or, when they never ran, the last step's) until the app, its services and its copy are gone."""
    graded = _Graded()
    hidden_ended: list[float] = []

    def hidden(app: App, seed: int) -> HiddenRun:
        try:
            return run_hidden_tests(
                app.socket,
                manifest=manifest,
                # Judged on CPU and own time; the wall clock, a net, is cut by the budget.
                timeout=manifest.hidden_timeout,
                wall_timeout=runner.within(WALL_FACTOR * manifest.hidden_timeout),
                seed=seed,
                app_usage=app.usage,
                # A worker runs one hidden suite after another: a fork of its warm grader each time.
                warm=True,
            )
        finally:
            hidden_ended.append(time.monotonic())

    began = time.monotonic()
    played = play(runner, tree, seeds=[run.seed], hidden=hidden, visible=None)
    returned = time.monotonic()
    timings.update(played.timings)
    steps = sum(played.timings.get(step, 0.0) for step in ("build", "app_start"))
    timings["teardown"] = returned - (hidden_ended[-1] if hidden_ended else began + steps)
    graded.app_result = runner.app_results[-1] if runner.app_results else None
    if played.hidden:
        graded.hidden = played.hidden[0]
        graded.grader = graded.hidden.grader
        if graded.hidden.starved:
            graded.starved = "the hidden tests' last requests were not sent in time"
    failure = played.failure
    if isinstance(failure, BuildError):
        graded.reason = f"the build failed: {failure}"
        graded.starved = graded.reason if failure.starved else ""
    elif isinstance(failure, AppStartError):
        graded.reason = app_start_reason(str(failure), tree=tree, manifest=manifest)
        graded.starved = graded.reason if failure.starved else ""
    elif isinstance(failure, GraderError):
        graded.reason = f"the hidden tests could not complete: {failure}"
        if isinstance(failure, OutOfTime):
            graded.grader = failure.grader
            graded.starved = graded.reason if failure.starved else ""
    if runner.out_of_time:
        graded.hidden = None
        used = _run_usage(graded.app_result, graded.grader)
        budget_reason = f"the run took longer than its budget of {budget:g} s (PORTAL_RUN_BUDGET_SECONDS)"
        graded.reason = budget_reason + (f"; {graded.reason}" if graded.reason else "")
        # The budget is wall clock: it says nothing of the code unless the code used it.
        graded.starved = f"{budget_reason} ({used.describe()})" if used.starved(budget) else ""
    return graded


# The last line of a Python traceback: "ModuleNotFoundError: No module named 'orjson'".
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt)(?::\s.*)?$")
REASON_LINE = 160  # what pages show of a reason's first line (selectors.RunStatus.reason_line)
REQUIREMENTS_NOTE = "changes to {name} are not installed: the app runs with the assessment's runtime"


def app_start_reason(detail: str, *, tree: Path, manifest: Manifest) -> str:
    """Why the app did not start, first line first: the exception the app ended with and, when the
    branch changed its dependencies, that they are not installed (the runtime is the assessment's,
    built from the shipped requirements). ``detail`` (how it ended, its last output) follows."""
    lines = [line.strip() for line in detail.splitlines()]
    exception = next((line for line in reversed(lines) if _EXCEPTION_LINE.match(line)), "")
    changed = _dependencies_changed(tree=tree, manifest=manifest)
    note = REQUIREMENTS_NOTE.format(name=" and ".join(changed)) if changed else ""
    if not exception:
        # No exception to name: how it ended (exit code, limit, silence) is the first line.
        head, newline, rest = detail.partition("\n")
        return f"the app did not start: {head}" + (f"; {note}" if note else "") + newline + rest
    # The note is what to do about it: the exception gives way to keep it on the line pages show.
    first = "the app did not start: "
    room = REASON_LINE - len(first) - (len(note) + 2 if note else 0)
    first += exception if len(exception) <= room else exception[: max(room - 1, 20)] + "…"
    if note:
        first += f"; {note}"
    return f"{first}\n{detail}"


def _dependencies_changed(*, tree: Path, manifest: Manifest) -> list[str]:
    """The dependency files the commit changed from the shipped ones: requirements, pyproject's
    dependencies (a pyproject the runtime never reads is not a dependency change otherwise); for a
    package on Node.js, package.json's dependencies and the lockfile (portal.scoring.requirements)."""
    if manifest.runtime_kind == "node":
        return node_dependencies_changed(tree=tree, manifest=manifest)
    changed = []
    name = manifest.requirements
    if _requirement_lines(tree / name) != _requirement_lines(manifest.shipped_dir / name):
        changed.append(name)
    if _pyproject_dependencies(tree / "pyproject.toml") != _pyproject_dependencies(
        manifest.shipped_dir / "pyproject.toml"
    ):
        changed.append("pyproject.toml's dependencies")
    return changed


def _requirement_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(errors="replace") if path.is_file() and not path.is_symlink() else ""
    except OSError:
        return []
    return sorted(line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip())


def _pyproject_dependencies(path: Path) -> object:
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 1024 * 1024:
            return None
        project = tomllib.loads(path.read_text(errors="replace")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if not isinstance(project, dict):
        return None
    return (project.get("dependencies"), project.get("optional-dependencies"))


def _run_usage(app_result: Result | None, grader: Usage | None) -> Usage:
    """What the run's app (over its whole life: the portal's own setup before it is not the candidate's)
    and the trusted grader used."""
    if app_result is None:
        return Usage(wall=0.0)
    app = Usage(wall=app_result.wall_time, cpu=app_result.cpu_time, cpu_wait=app_result.cpu_wait)
    return app.plus(grader)


def _starved(run: Run, *, why: str) -> Run:
    """A run the worker host's other work starved is not held against the candidate: it is queued again
    (its seed kept, so it replays the same requests), STARVED_PLAYS plays in all, then it is an error
    that says the host was too busy (``rescore --errors`` retries it)."""
    try:
        plays = task_attempt_begin(task=TASK_STARVED, key=str(run.pk), max_attempts=STARVED_PLAYS - 1) + 1
    except AttemptsExhausted as exc:
        return _finish(
            run,
            status=Run.Status.ERROR,
            reason=f"the worker host was too busy to score this commit in {exc.attempts} tries (the code was "
            f"not too slow): {why}. Retry it when the workers are less busy (rescore --errors).",
        )
    with transaction.atomic():
        Run.objects.filter(pk=run.pk, attempt=run.attempt, status=Run.Status.RUNNING).update(
            status=Run.Status.QUEUED,
            reason=reason_capped(f"played again ({plays} of {STARVED_PLAYS}): the worker host was too busy: {why}"),
            queued_at=timezone.now(),
            dispatched_at=None,
            started_at=None,
            finished_at=None,
        )
        # The next start is a new play, not a worker that died: it does not count against MAX_ATTEMPTS.
        task_attempt_clear(task=TASK_RUN, key=str(run.pk))
        runs_dispatch(invite=run.invite)
    logger.warning("run %s was starved by the worker host's other work and is queued again: %s", run.pk, why)
    run.refresh_from_db()
    return run


def _visible_summary(visible: VisibleRun, *, version: int, tree: str) -> dict:
    """How the candidate's own tests did, as ``run.visible`` stores it."""
    return {
        "state": VISIBLE_DONE,
        "returncode": visible.returncode,
        "passed": sum(o.outcome == "passed" for o in visible.outcomes),
        "total": len(visible.outcomes),
        "failed": [o.test_id for o in visible.outcomes if o.outcome != "passed"],
        "output": visible.output[-4000:],
        "cpu_time": visible.cpu,
        "version": version,
        "tree": tree,
    }


def _visible_pending(run: Run, *, worker: str | None = None) -> dict:
    return {
        "state": VISIBLE_PENDING,
        "worker": run.worker if worker is None else worker,
        "since": timezone.now().isoformat(),
    }


def _visible_is_pending(run: Run, *, attempt: int) -> bool:
    """Whether this attempt of the run recorded its verdict and its visible tests are still to run."""
    return run.attempt == attempt and run.status in Run.FINISHED and visible_state(run.visible) == VISIBLE_PENDING


def _visible_own(run: Run) -> dict | None:
    """The run's own visible results from an earlier play (a rescore), if they were on its assessment
    version and are reusable; read from the row as claimed, before the verdict replaces them."""
    own = run.visible if isinstance(run.visible, dict) else {}
    if visible_state(own) != VISIBLE_DONE or own.get("version") != run.assessment_version_id:
        return None
    return _reusable(own, source=run.pk)


def _visible_found(run: Run, *, tree: str) -> dict | None:
    """Visible results of the same tree on the same assessment version that another run already has
    (a new grader's run of the commit, the same commit or tree pushed elsewhere: an unchanged branch, a
    revert), marked with the run whose play gave them; None if none has. They depend only on the tree
    and the version's runtime."""
    found = (
        Run.objects.filter(
            assessment_version_id=run.assessment_version_id,
            visible__state=VISIBLE_DONE,
            visible__version=run.assessment_version_id,
            visible__tree=tree,
        )
        .exclude(pk=run.pk)
        .order_by("pk")
        .values_list("pk", "visible")
        .first()
    )
    return _reusable(found[1], source=found[0]) if found else None


def _reusable(summary: dict, *, source: int) -> dict | None:
    """``summary`` marked as reused from ``source`` (or the run it was reused from); None for results cut
    by a limit or a signal (a return code past 127: maybe the host's load, not the code)."""
    returncode = summary.get("returncode")
    if not isinstance(returncode, int) or not 0 <= returncode < 128:
        return None
    # Reused, they cost this run nothing: their CPU stays on the run that played them.
    kept = {key: value for key, value in summary.items() if key != "cpu_time"}
    return {**kept, "reused_from": summary.get("reused_from") or source}


def _tree_of(run: Run, repo: Path) -> str:
    """The commit's tree id: what the visible results depend on (with the assessment version)."""
    return gitplumbing.text("rev-parse", "--verify", f"{run.commit}^{{tree}}", git_dir=repo)


def _timings_add(run: Run, timings: dict[str, float], **fields) -> bool:
    """Add ``timings`` (and set ``fields``) on the run if its current attempt is still ``run.attempt``
    and it is finished: what happened after the verdict was recorded. Whether it was written."""

    def write() -> bool:
        with transaction.atomic():
            current = Run.objects.select_for_update().filter(pk=run.pk).first()
            if current is None or current.attempt != run.attempt or current.status not in Run.FINISHED:
                return False
            if "visible" in fields and visible_state(current.visible) != VISIBLE_PENDING:
                return False  # another play recorded them first (the sweep's, a duplicate)
            current.timings = {**(current.timings or {}), **timings}
            for name, value in fields.items():
                setattr(current, name, value)
            current.save(update_fields=["timings", *fields])
            run.timings, run.visible = current.timings, current.visible
            return True

    return database_retry(write, what=f"recording what followed run {run.pk}'s verdict")


def _visible_play(
    run: Run, *, tree: Path, tree_id: str, runner: SandboxRunner, built: bool, timings: dict[str, float]
) -> Run:
    """Run the visible tests of the run's tree (built by the play, or built here), record their summary
    and ask for the analysis again (it reads them); or, past VISIBLE_ATTEMPTS plays, say they could not run.

    Never raises for what the tests or the sandbox did: the run's verdict is recorded already."""
    key = f"{run.pk}:{run.attempt}"
    began = time.monotonic()
    try:
        # A budget of their own: the hidden tests' play used some of the run's.
        runner.deadline = time.monotonic() + settings.PORTAL_RUN_BUDGET_SECONDS
        if not built:
            # A failed build: the visible tests say it in their own words (go test builds again).
            with contextlib.suppress(BuildError):
                runner.build(tree)
        summary = _visible_summary(runner.run_visible_tests(tree), version=run.assessment_version_id, tree=tree_id)
    except SandboxError as exc:
        summary = {"state": VISIBLE_FAILED, "reason": f"the sandbox is unavailable: {exc}"}
    except Exception as exc:  # the portal's failure, not the candidate's: the verdict stands
        logger.exception("the visible tests of run %s failed", run.pk)
        summary = {"state": VISIBLE_FAILED, "reason": f"internal error while running them: {exc.__class__.__name__}"}
    timings = {**timings, "visible": time.monotonic() - began}
    return _visible_record(run, summary=summary, timings=timings, key=key)


def _visible_exhausted(run: Run, *, timings: dict[str, float]) -> Run | None:
    """Count one more play of the run's visible tests (committed before it, so a worker killed while
    they run leaves it counted); past VISIBLE_ATTEMPTS, record that they could not be run and return
    the run, else None."""
    key = f"{run.pk}:{run.attempt}"
    try:
        task_attempt_begin(task=TASK_VISIBLE, key=key, max_attempts=VISIBLE_ATTEMPTS)
    except AttemptsExhausted as exc:
        reason = f"the visible tests stopped the worker {exc.attempts - 1} times"
        return _visible_record(run, summary={"state": VISIBLE_FAILED, "reason": reason}, timings=timings, key=key)
    return None


def _visible_record(run: Run, *, summary: dict, timings: dict[str, float], key: str) -> Run:
    if _timings_add(run, timings, visible=summary):
        # The disagreements and contested tickets read them.
        analysis_request(invite=run.invite)
    task_attempt_clear(task=TASK_VISIBLE, key=key)
    run.refresh_from_db()
    return run


def visible_execute(*, run_id: int, attempt: int, worker: str = "") -> Run | None:
    """Only the visible tests of a finished run whose visible results stayed pending (the task the sweep
    sends, ``scoring.visible``): export its commit, build it, run them, record their summary.

    ``attempt`` is the run's attempt the task was sent for: a run played again since records its own.
    Idempotent: a run whose visible results are no longer pending, or claimed by a live worker, is left.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not _visible_is_pending(run, attempt=attempt):
            return run
        claimant = run.visible.get("worker") or ""
        if claimant and claimant != (worker or this_process()):
            owner = Run(worker=claimant, worker_pid=None)
            if not _claimant_gone(owner, worker=worker or this_process()):
                logger.info("run %s: its visible tests are being run by %s; a duplicate is ignored", run_id, claimant)
                return run
        run.visible = _visible_pending(run, worker=worker or this_process())
        run.save(update_fields=["visible"])
    key = f"{run.pk}:{run.attempt}"
    # Counted first: a commit that cannot even be exported or built ends too, after VISIBLE_ATTEMPTS.
    if (exhausted := _visible_exhausted(run, timings={})) is not None:
        return exhausted
    try:
        manifest = version_manifest(run.assessment_version)
        runtime = assessment_runtime(manifest=manifest)
        services = assessment_services(manifest=manifest)
    except (PackageFetchError, SandboxError) as exc:
        summary = {"state": VISIBLE_FAILED, "reason": f"the sandbox is unavailable: {exc}"}
        return _visible_record(run, summary=summary, timings={}, key=key)
    repo = _repository(run)
    tree_id = _tree_of(run, repo)
    found = _visible_found(run, tree=tree_id)
    if found is not None:
        return _visible_record(run, summary=found, timings={}, key=key)
    with tempfile.TemporaryDirectory(prefix="visible-") as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        try:
            tree_export(repo=repo, commit=run.commit, destination=tree)
        except TreeTooLarge as exc:
            return _visible_record(run, summary={"state": VISIBLE_FAILED, "reason": str(exc)}, timings={}, key=key)
        runner = SandboxRunner(manifest=manifest, runtime=runtime, services=services)
        return _visible_play(run, tree=tree, tree_id=tree_id, runner=runner, built=False, timings={})


def _sandbox_summary(result) -> dict:
    if result is None:
        return {}
    return {
        "limit": str(result.limit) if result.limit else None,
        "limits_hit": [str(limit) for limit in result.limits_hit],
        "exit_code": result.exit_code,
        "signal": result.signal_name,
        # The portal stops the app once the hidden tests are done: its signal is then the portal's.
        "stopped": result.stopped,
        "wall_time": result.wall_time,
        "cpu_time": result.cpu_time,
        "cpu_wait": result.cpu_wait,
        "memory_peak": result.memory_peak,
        "mechanisms": {str(k): v for k, v in result.mechanisms.items()},
        "output": (result.stderr + result.stdout)[-4000:].decode(errors="replace"),
    }


# A run handed over this long ago whose task the broker never took is sent again (the send after
# commit normally takes milliseconds; this leaves room for one in progress).
SEND_GRACE = timedelta(seconds=10)
# At most this many runs of each kind are repaired per sweep: the next sweep takes the rest.
SWEEP_BATCH = 200


@dataclass(frozen=True)
class Sweep:
    unsent: int = 0  # handed over, never taken by the broker
    lost: int = 0  # taken by the broker long ago, never started by a worker
    orphaned: int = 0  # running on a worker that stopped beating
    overdue: int = 0  # running past the hard time limit
    analyses: int = 0  # analyses asked for long ago and never started
    emails: int = 0  # queued emails whose task the broker never took
    visible: int = 0  # finished runs whose visible tests stayed pending (their worker died after the verdict)

    @property
    def total(self) -> int:
        return self.unsent + self.lost + self.orphaned + self.overdue + self.analyses + self.emails + self.visible

    def __str__(self) -> str:
        return (
            f"{self.unsent} never sent, {self.lost} lost by the broker, {self.orphaned} on a silent worker, "
            f"{self.overdue} past the time limit, {self.analyses} analyses, {self.emails} emails and "
            f"{self.visible} runs' visible tests sent again"
        )


def run_resend(*, run: Run, why: str) -> bool:
    """Send a waiting or running run to the workers again under a new attempt; False if it has finished.

    The old attempt's task, if it still arrives, is ignored, and a worker still playing it records
    nothing when it ends (``_finish``). Its results so far are not touched: the new play replaces them.
    """
    with transaction.atomic():
        updated = Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(status=Run.Status.QUEUED)
        if not updated:
            return False
        attempt = _hand_over(run.pk, now=timezone.now())
    logger.warning("run %s sent to the workers again (attempt %s): %s", run.pk, attempt, why)
    return True


def runs_stuck(*, now=None) -> dict[str, list[Run]]:
    """Runs in flight that need repair, by why: see ``runs_sweep``."""
    now = now or timezone.now()
    resend_after = timedelta(seconds=settings.PORTAL_RUN_RESEND_AFTER)
    in_flight = Run.objects.filter(dispatched_at__isnull=False).order_by("dispatched_at", "pk")
    unsent = list(
        in_flight.filter(status=Run.Status.QUEUED, sent_at__isnull=True, dispatched_at__lt=now - SEND_GRACE)[
            :SWEEP_BATCH
        ]
    )
    # Sent, never started, while a live worker of the scoring queue sits idle: the broker lost the
    # message (restarted without its queue). A run merely waiting behind others is left alone: some
    # run is running or started recently. Sent again with a growing wait (1, 2, 4, 8 times
    # PORTAL_RUN_RESEND_AFTER), so copies cannot pile up; a stale copy returns at once anyway.
    idle = _scoring_workers_idle(now=now, since=now - resend_after)
    lost = [
        run
        for run in in_flight.filter(status=Run.Status.QUEUED, sent_at__lt=now - resend_after)[:SWEEP_BATCH]
        if idle and run.sent_at < now - resend_after * min(2 ** max(run.attempt - 1, 0), 8)
    ]
    silent = _silent_workers(now=now)
    orphaned = list(
        Run.objects.filter(status=Run.Status.RUNNING, worker__in=silent, started_at__lt=now - _dead_after()).order_by(
            "started_at"
        )[:SWEEP_BATCH]
    )
    overdue = list(
        Run.objects.filter(
            status=Run.Status.RUNNING, started_at__lt=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
        )
        .exclude(pk__in=[run.pk for run in orphaned])
        .order_by("started_at")[:SWEEP_BATCH]
    )
    return {"unsent": unsent, "lost": lost, "orphaned": orphaned, "overdue": overdue}


def _scoring_workers_idle(*, now, since) -> bool:
    """Whether a live worker consumes the scoring queue and no run is running or started since ``since``."""
    live = any(
        "scoring" in (beat.queues or [])
        for beat in WorkerHeartbeat.objects.filter(stopped_at__isnull=True, seen_at__gte=now - _dead_after())
    )
    if not live:
        return False
    return not Run.objects.filter(Q(status=Run.Status.RUNNING) | Q(started_at__gte=since)).exists()


def _silent_workers(*, now) -> list[str]:
    """Workers that stopped, or whose last heartbeat is older than PORTAL_WORKER_DEAD_AFTER."""
    return list(
        WorkerHeartbeat.objects.filter(Q(stopped_at__isnull=False) | Q(seen_at__lt=now - _dead_after())).values_list(
            "name", flat=True
        )
    )


def runs_visible_stuck(*, now=None) -> list[Run]:
    """Finished runs whose visible tests stayed pending: the worker that recorded the verdict (or that a
    ``scoring.visible`` task reached) stopped beating, or it is past the task's hard time limit; or a
    task sent for them was never taken in PORTAL_RUN_RESEND_AFTER."""
    now = now or timezone.now()
    silent = set(_silent_workers(now=now))
    overdue = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    unclaimed = now - timedelta(seconds=settings.PORTAL_RUN_RESEND_AFTER)
    stuck = []
    candidates = Run.objects.filter(
        status__in=Run.FINISHED, visible__state=VISIBLE_PENDING, finished_at__lt=now - SEND_GRACE
    ).order_by("finished_at", "pk")
    for run in candidates[:SWEEP_BATCH]:
        worker, since = run.visible.get("worker") or "", _parsed(run.visible.get("since")) or run.finished_at
        if (worker and worker in silent and since < now - _dead_after()) or since < (overdue if worker else unclaimed):
            stuck.append(run)
    return stuck


def _parsed(value) -> object:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def run_visible_resend(*, run: Run) -> bool:
    """Send a ``scoring.visible`` task for the run's pending visible tests, once; False if they are not
    pending as ``run`` saw them any more (recorded meanwhile, or sent by another sweep)."""
    with transaction.atomic():
        current = Run.objects.select_for_update().filter(pk=run.pk).first()
        if current is None or current.attempt != run.attempt or current.visible != run.visible:
            return False
        current.visible = _visible_pending(current, worker="")
        current.save(update_fields=["visible"])
        send_on_commit(TASK_VISIBLE, run_id=run.pk, attempt=run.attempt)
    logger.warning("run %s: its visible tests stayed pending; sent to the workers again", run.pk)
    return True


STUCK_WHY = {
    "unsent": "the broker did not take its task when it was handed over",
    "lost": "the broker took its task long ago and no worker started it",
    "orphaned": "the worker scoring it stopped sending heartbeats",
    "overdue": "it ran past the task's hard time limit",
}


def runs_sweep(*, now=None) -> Sweep:
    """Repair what a failure left behind, so that nothing recorded is lost or stays stuck.

    Beat sends this every PORTAL_SWEEP_SECONDS. Runs handed to the workers whose task the broker
    never took (it was down) are sent; runs whose task was taken long ago and never started (a
    broker that lost its queue) are sent again; runs on a worker that stopped beating for
    PORTAL_WORKER_DEAD_AFTER (killed, its host gone) or past the hard time limit are sent again;
    analyses asked for long ago and never started are asked again; queued emails whose task the
    broker never took are sent (portal.invites.emails.emails_unsent_send); finished runs whose visible
    tests stayed pending (``runs_visible_stuck``) have them run by a ``scoring.visible`` task.
    """
    now = now or timezone.now()
    counts = {}
    for why, runs in runs_stuck(now=now).items():
        counts[why] = sum(run_resend(run=run, why=STUCK_WHY[why]) for run in runs)
    analyses = 0
    lost_after = now - timedelta(seconds=settings.PORTAL_RUN_RESEND_AFTER)
    for analysis in InviteAnalysis.objects.filter(requested__gt=F("computed"), task_sent_at__lt=lost_after).order_by(
        "task_sent_at"
    )[:SWEEP_BATCH]:
        sent = InviteAnalysis.objects.filter(pk=analysis.pk, task_sent_at=analysis.task_sent_at).update(
            task_sent_at=now
        )
        if sent:
            analyses += 1
            send_on_commit(TASK_ANALYSE, invite_id=analysis.invite_id)
    visible = sum(run_visible_resend(run=run) for run in runs_visible_stuck(now=now))
    return Sweep(**counts, analyses=analyses, emails=emails_unsent_send(now=now), visible=visible)


class Retry:
    """Which finished runs of the current grader ``invite_rescore`` queues again."""

    NONE = "none"  # score new commits only
    ERRORS = "errors"  # and every run that ended in an error (the sandbox was down, a fetch failed...)
    ALL = "all"  # and every finished run of a current head, the starting point and the integration
    CHOICES = (NONE, ERRORS, ALL)


@dataclass(frozen=True)
class Rescore:
    queued: int  # commits scored for the first time by this grader
    retried: int  # finished runs queued again
    kept: int  # commits already scored by this grader, left as they are
    resent: int = 0  # stuck runs sent to the workers again

    def __str__(self) -> str:
        return (
            f"Grader {GRADER_VERSION}: {self.queued} run(s) queued, {self.retried} run(s) retried, "
            f"{self.kept} commit(s) already scored by this grader, {self.resent} stuck run(s) sent again."
        )


def invite_runs_stuck(*, invite: Invite, now=None) -> list[Run]:
    """The invite's runs in flight that a failure left behind: never sent, sent and never started for
    PORTAL_RUN_RESEND_AFTER (whatever the workers are doing), on a silent worker, or past the time limit."""
    now = now or timezone.now()
    resend_after = now - timedelta(seconds=settings.PORTAL_RUN_RESEND_AFTER)
    silent = _silent_workers(now=now)
    overdue = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    return list(
        Run.objects.filter(invite=invite, status__in=Run.ACTIVE, dispatched_at__isnull=False)
        .filter(
            Q(status=Run.Status.QUEUED, sent_at__isnull=True, dispatched_at__lt=now - SEND_GRACE)
            | Q(status=Run.Status.QUEUED, sent_at__lt=resend_after)
            | Q(status=Run.Status.RUNNING, worker__in=silent)
            | Q(status=Run.Status.RUNNING, started_at__lt=overdue)
        )
        .order_by("dispatched_at", "pk")
    )


def invite_runs_resend(*, invite: Invite) -> int:
    """Send the invite's stuck runs (``invite_runs_stuck``) to the workers again; how many."""
    return sum(run_resend(run=run, why="sent again by an administrator") for run in invite_runs_stuck(invite=invite))


def run_requeue(*, run: Run) -> bool:
    """Queue a finished run again; False if it is not finished.

    Nothing is cleared: its results stay until the new play ends and replaces them (``_finish``),
    so a retry that waits, or never runs, destroys nothing.
    """
    with transaction.atomic():
        updated = Run.objects.filter(pk=run.pk, status__in=Run.FINISHED).update(
            status=Run.Status.QUEUED,
            reason="",  # why it ended says nothing about the play to come
            queued_at=timezone.now(),
            dispatched_at=None,
            started_at=None,
            finished_at=None,
        )
        if not updated:
            return False
        # A fresh start: the attempts that ended it before do not count against the retry.
        task_attempt_clear(task=TASK_RUN, key=str(run.pk))
        task_attempt_clear(task=TASK_STARVED, key=str(run.pk))
        runs_dispatch(invite=run.invite)
    return True


def invite_rescore(*, invite: Invite, retry: str = Retry.NONE) -> Rescore:
    """Queue runs under the current grader for every branch head and the starting point.

    Stuck runs of the invite are sent again first, so that nothing queued now waits behind them.
    With ``retry``, finished runs of this grader are queued again as well (see Retry); they keep
    their results until their new play ends.
    """
    if retry not in Retry.CHOICES:
        raise ValueError(f"retry must be one of {', '.join(Retry.CHOICES)}, not {retry!r}")
    resent = invite_runs_resend(invite=invite)
    targets = {invite.repository.base_commit: MAIN_REF}
    for branch, head in gitplumbing.heads(repository_path(invite)).items():
        targets.setdefault(head, f"refs/heads/{branch}")
    queued = retried = 0
    with transaction.atomic():
        fresh = set()
        for commit, ref in targets.items():
            run, created = run_queue(invite=invite, commit=commit, ref=ref)
            queued += created
            if created:
                fresh.add(run.pk)
        current = Run.objects.filter(invite=invite, grader_version=GRADER_VERSION).exclude(pk__in=fresh)
        if retry == Retry.ERRORS:
            again = current.filter(status=Run.Status.ERROR)
        elif retry == Retry.ALL:
            again = current.filter(status__in=Run.FINISHED).filter(
                Q(commit__in=targets) | Q(status=Run.Status.ERROR) | Q(ref__startswith="refs/portal/")
            )
        else:
            again = Run.objects.none()
        for run in again:
            retried += run_requeue(run=run)
        analysis_request(invite=invite)
    return Rescore(queued=queued, retried=retried, kept=len(targets) - queued, resent=resent)


def invite_version_rescore(*, invite: Invite) -> Rescore:
    """Score the invite's branch heads, starting point and integration again on the assessment version
    it is on now (it was moved to another): the new version's hidden tests grade the same commits.

    A commit has one run per grader, so its run of this grader moves to the new version and is queued
    again (its old results stay until the new play replaces them); a run being played on the old
    version is sent again under a new attempt, so what that play ends with is dropped (``_finish``).
    Commits no branch points at keep their runs on the version that scored them. An invite that never
    pushed has nothing scored yet, and still nothing after this: its first push scores the starting point.
    """
    if not invite.pushes.exists():
        return Rescore(queued=0, retried=0, kept=0)
    heads = gitplumbing.heads(repository_path(invite))
    targets = {invite.repository.base_commit, *heads.values()}
    with transaction.atomic():
        moved = list(
            Run.objects.filter(invite=invite, grader_version=GRADER_VERSION)
            .filter(Q(commit__in=targets) | Q(ref__startswith="refs/portal/"))
            .exclude(assessment_version=invite.assessment_version)
            .order_by("pk")
        )
        Run.objects.filter(pk__in=[run.pk for run in moved]).update(assessment_version=invite.assessment_version)
        again = set()
        for run in moved:
            if run.status == Run.Status.RUNNING:
                played = run_resend(run=run, why="its invite moved to another version of the assessment")
            else:  # False for a run still waiting: a worker takes it on the new version
                played = run_requeue(run=run)
            if played:
                again.add(run.commit)
        # Commits never scored yet, and runs superseded before a worker took them (queued anew).
        done = invite_rescore(invite=invite)
    return Rescore(
        queued=done.queued,
        retried=len(again) + done.retried,
        kept=done.kept - len(again & targets),
        resent=done.resent,
    )
