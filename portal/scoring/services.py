"""Scoring a commit: export it, serve it in the sandbox, grade it from the trusted side, store a Run.

How work reaches here:
  a push      -> push_score(push=...)       (the git view's on_push, wired in portal.urls)
  a finished run, a push that queued no run, a rescore -> analysis_request(invite=...)
                 -> task "analysis.invite" (at most one waiting per invite)
                 (portal.scoring.analysis computes findings, signals and the integrated run once)

Tasks are sent by name (portal.core.dispatch); this module imports no tasks module.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

import gitplumbing
from grader.clock import WALL_FACTOR, Usage
from grader.local import AppStartError
from grader.manifest import Manifest
from grader.run import GraderError, HiddenRun, OutOfTime, VisibleRun, new_seed, run_hidden_tests
from grader.verdicts import ticket_verdicts
from portal.assessments.runner import SandboxRunner
from portal.assessments.services import PackageFetchError, assessment_runtime, version_manifest
from portal.core.datadir import cache_dir, has_data_dir
from portal.core.dispatch import send_on_commit
from portal.core.services import AttemptsExhausted, task_attempt_begin, task_attempt_clear
from portal.hosting.models import Push
from portal.hosting.services import repository_path
from portal.invites.models import Event, Invite
from portal.invites.services import event_record
from portal.scoring.export import TreeTooLarge, commit_fetch, tree_export
from portal.scoring.models import InviteAnalysis, Run, TestResult, TicketVerdict
from portal.scoring.version import GRADER_VERSION
from sandbox import Result, SandboxError

logger = logging.getLogger(__name__)

# Task names (portal/scoring/tasks.py registers them). "scoring.*" goes to the scoring queue;
# the analysis reads the repositories, so it runs on the default queue, beside the data.
TASK_RUN = "scoring.run"
TASK_ANALYSE = "analysis.invite"
# Counts the plays of a run that the worker host's other work starved (TaskAttempt, key: the run id).
TASK_STARVED = "scoring.starved"

LOG_CAP = 20_000
MESSAGE_CAP = 2_000
MAX_ATTEMPTS = 3
# A run starved by the host's other work is played this many times in all before it is an error.
STARVED_PLAYS = 3
MAIN_REF = "refs/heads/main"


def run_queue(*, invite: Invite, commit: str, ref: str) -> tuple[Run, bool]:
    """The run of ``commit`` under the current grader; whether this call queued it.

    A commit is scored once, whatever refs point at it. A new run, or one that was superseded
    and is wanted again (a branch moved back to it), waits for the invite's turn (runs_dispatch).
    """
    now = timezone.now()
    defaults = {"ref": ref, "assessment_version": invite.assessment_version, "queued_at": now}
    try:
        with transaction.atomic():
            run, created = Run.objects.get_or_create(
                invite=invite, commit=commit, grader_version=GRADER_VERSION, defaults=defaults
            )
    except IntegrityError:  # a concurrent push of the same commit created it first
        run, created = Run.objects.get(invite=invite, commit=commit, grader_version=GRADER_VERSION), False
    if not created and run.status == Run.Status.SUPERSEDED:
        created = bool(
            Run.objects.filter(pk=run.pk, status=Run.Status.SUPERSEDED).update(
                status=Run.Status.QUEUED, ref=ref, reason="", queued_at=now, finished_at=None, dispatched_at=None
            )
        )
        run.refresh_from_db()
    if created:
        runs_dispatch(invite=invite)
    return run, created


def runs_dispatch(*, invite: Invite) -> int:
    """Hand the invite's waiting runs to the workers, oldest first, while fewer than
    PORTAL_RUNS_IN_FLIGHT_PER_INVITE of its runs are queued at the broker or running; return how many.

    The others wait in the database: however often a candidate pushes, the broker's queue holds at
    most that many of their runs, so another candidate's run waits behind at most that many. Called
    when a run is queued, finishes or is superseded. The invite's row is locked, so two callers
    never both fill the same free place.
    """
    with transaction.atomic():
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
            Run.objects.filter(pk=run_id).update(dispatched_at=now)
            send_on_commit(TASK_RUN, run_id=run_id)
    return len(waiting)


def runs_supersede(*, invite: Invite, refs: str, keep: set[str], reason: str) -> int:
    """Mark the invite's runs still waiting for a worker, queued for a ref starting with ``refs``
    whose commit is not in ``keep``, as superseded (never run, with ``reason``); return how many.

    A run a worker has taken is left to finish. The freed places go to the next waiting runs.
    """
    stale = Run.objects.filter(invite=invite, status=Run.Status.QUEUED, ref__startswith=refs).exclude(commit__in=keep)
    superseded = stale.update(status=Run.Status.SUPERSEDED, reason=reason, finished_at=timezone.now())
    if superseded:
        runs_dispatch(invite=invite)
    return superseded


@transaction.atomic
def push_score(*, push: Push) -> list[Run]:
    """Everything a recorded push sets off: a run per pushed branch head, and the analysis.

    The starting point is scored with the first push (a branch's regressions are measured
    against it); later pushes find its run and add nothing. Deleted refs and tags queue nothing.
    Runs still waiting for a commit that no branch points at any more (the branch moved on or was
    deleted) are superseded: only what the result depends on is scored.
    """
    invite = push.invite
    base = invite.repository.base_commit
    runs_supersede(
        invite=invite,
        refs="refs/heads/",
        keep={base, *gitplumbing.heads(repository_path(invite)).values()},
        reason="the branch moved on before a worker took this run; its new head is scored instead",
    )
    queued = [run_queue(invite=invite, commit=base, ref=MAIN_REF)]
    for update in push.ref_updates.all():
        if update.new_sha != gitplumbing.ZERO_SHA and update.ref.startswith("refs/heads/"):
            queued.append(run_queue(invite=invite, commit=update.new_sha, ref=update.ref))
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


def _claim(run_id: int) -> Run | None:
    """Move a queued (or reaped) run to running; None if another worker has it or it is done."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in Run.ACTIVE:  # done, superseded, or gone
            return None
        run.status = Run.Status.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
        return run


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


def _finish(run: Run, *, status: str, reason: str = "", **fields) -> Run:
    run.status = status
    run.reason = reason_capped(reason)
    run.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
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


def run_execute(*, run_id: int) -> Run | None:
    """Score one run; idempotent and safe to call again after a worker died."""
    try:
        task_attempt_begin(task="scoring.run", key=str(run_id), max_attempts=MAX_ATTEMPTS)
    except AttemptsExhausted as exc:
        run = Run.objects.filter(pk=run_id).first()
        if run is not None and run.status in Run.ACTIVE:
            return _finish(run, status=Run.Status.ERROR, reason=f"scoring stopped the worker {exc.attempts - 1} times")
        return run
    run = _claim(run_id)
    if run is None:
        return Run.objects.filter(pk=run_id).first()
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
        try:
            tree_export(repo=_repository(run), commit=run.commit, destination=tree)
        except TreeTooLarge as exc:
            return _finish(run, status=Run.Status.ERROR, reason=str(exc))
        timings["export"] = time.monotonic() - started

        budget = settings.PORTAL_RUN_BUDGET_SECONDS
        try:
            runtime = assessment_runtime(manifest=manifest)
        except SandboxError as exc:
            return _finish(run, status=Run.Status.ERROR, reason=f"the sandbox is unavailable: {exc}")
        # The budget counts from here: every step of the candidate's code is cut to what is left of it.
        runner = SandboxRunner(manifest=manifest, runtime=runtime, deadline=time.monotonic() + budget)

        app_tree = Path(scratch) / "app"
        shutil.copytree(tree, app_tree, symlinks=True)
        graded = _grade(
            run, manifest=manifest, runner=runner, budget=budget, tree=tree, app_tree=app_tree, timings=timings
        )
    if graded.starved:
        return _starved(run, why=graded.starved)

    hidden, reason = graded.hidden, graded.reason
    sandbox = _sandbox_summary(graded.app_result)
    visible_summary = _visible_summary(graded.visible)
    log = "\n".join(filter(None, [reason, hidden.output if hidden else "", sandbox.get("output", "")]))[-LOG_CAP:]
    if hidden is None:
        return _finish(
            run,
            status=Run.Status.ERROR,
            reason=reason,
            timings=timings,
            sandbox=sandbox,
            visible=visible_summary,
            log=log,
        )
    with transaction.atomic():
        TestResult.objects.filter(run=run).delete()
        TicketVerdict.objects.filter(run=run).delete()
        TestResult.objects.bulk_create(
            TestResult(
                run=run,
                test_id=o.test_id,
                ticket=o.ticket,
                outcome=o.outcome,
                duration=o.duration,
                message=(o.message or "")[:MESSAGE_CAP],
            )
            for o in hidden.outcomes
        )
        verdicts = [
            TicketVerdict(
                run=run, ticket=v.ticket, passed=v.passed, tests_passed=v.tests_passed, tests_total=v.tests_total
            )
            for v in ticket_verdicts(manifest, hidden.outcomes)
        ]
        TicketVerdict.objects.bulk_create(verdicts)
        status = Run.Status.PASSED if all(v.passed for v in verdicts) else Run.Status.FAILED
        return _finish(run, status=status, timings=timings, sandbox=sandbox, visible=visible_summary, log=log)


@dataclass
class _Graded:
    """What serving a run's app and grading it gave."""

    hidden: HiddenRun | None = None
    visible: VisibleRun | None = None
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
    app_tree: Path,
    timings: dict[str, float],
) -> _Graded:
    """Serve the app, run the hidden tests against it and the visible tests beside it, within the budget."""
    graded = _Graded()

    def visible_tests():
        began = time.monotonic()
        result = runner.run_visible_tests(tree)
        timings["visible"] = time.monotonic() - began
        return result

    # The candidate's own tests run in a sandbox of their own, on their own copy of the
    # tree, while the app is graded: the run takes the longer of the two. They start once
    # the app is up, so an app that never starts ends the run at its start-up limit.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="visible-tests") as pool:
        visible_future = None
        started = time.monotonic()
        try:
            with runner.start_app(app_tree) as socket_path:
                timings["app_start"] = time.monotonic() - started
                visible_future = pool.submit(visible_tests)
                started = time.monotonic()
                try:
                    graded.hidden = run_hidden_tests(
                        socket_path,
                        manifest=manifest,
                        # Judged on CPU and own time; the wall clock, a net, is cut by the budget.
                        timeout=manifest.hidden_timeout,
                        wall_timeout=runner.within(WALL_FACTOR * manifest.hidden_timeout),
                        seed=run.seed,
                        app_usage=lambda: runner.app_usage(socket_path),
                    )
                    graded.grader = graded.hidden.grader
                    if graded.hidden.starved:
                        graded.starved = "the hidden tests' last requests were not sent in time"
                except GraderError as exc:
                    graded.reason = f"the hidden tests could not complete: {exc}"
                    if isinstance(exc, OutOfTime):
                        graded.grader = exc.grader
                        graded.starved = graded.reason if exc.starved else ""
                timings["hidden"] = time.monotonic() - started
        except AppStartError as exc:
            graded.reason = f"the app did not start: {exc}"
            graded.starved = graded.reason if exc.starved else ""
        graded.app_result = runner.app_results[-1] if runner.app_results else None
        graded.visible = visible_future.result() if visible_future else None
    if runner.out_of_time:
        graded.hidden = None
        used = _run_usage(graded.app_result, graded.grader)
        budget_reason = f"the run took longer than its budget of {budget:g} s (PORTAL_RUN_BUDGET_SECONDS)"
        graded.reason = budget_reason + (f"; {graded.reason}" if graded.reason else "")
        # The budget is wall clock: it says nothing of the code unless the code used it.
        graded.starved = f"{budget_reason} ({used.describe()})" if used.starved(budget) else ""
    return graded


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
        Run.objects.filter(pk=run.pk).update(
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


def _visible_summary(visible) -> dict:
    """How the candidate's own tests did; empty when they did not run (the app never started)."""
    if visible is None:
        return {}
    return {
        "returncode": visible.returncode,
        "passed": sum(o.outcome == "passed" for o in visible.outcomes),
        "total": len(visible.outcomes),
        "failed": [o.test_id for o in visible.outcomes if o.outcome != "passed"],
        "output": visible.output[-4000:],
    }


def _sandbox_summary(result) -> dict:
    if result is None:
        return {}
    return {
        "limit": str(result.limit) if result.limit else None,
        "limits_hit": [str(limit) for limit in result.limits_hit],
        "exit_code": result.exit_code,
        "signal": result.signal_name,
        "wall_time": result.wall_time,
        "cpu_time": result.cpu_time,
        "cpu_wait": result.cpu_wait,
        "memory_peak": result.memory_peak,
        "mechanisms": {str(k): v for k, v in result.mechanisms.items()},
        "output": (result.stderr + result.stdout)[-4000:].decode(errors="replace"),
    }


def runs_reap(*, now=None) -> int:
    """Requeue runs stuck in "running" past the hard time limit (their worker is gone)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    reaped = 0
    for run in Run.objects.filter(status=Run.Status.RUNNING, started_at__lt=stale):
        with transaction.atomic():
            updated = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(status=Run.Status.QUEUED)
            if updated:
                reaped += 1
                send_on_commit(TASK_RUN, run_id=run.pk)
    return reaped


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

    def __str__(self) -> str:
        return (
            f"Grader {GRADER_VERSION}: {self.queued} run(s) queued, {self.retried} run(s) retried, "
            f"{self.kept} commit(s) already scored by this grader."
        )


def run_requeue(*, run: Run) -> bool:
    """Queue a finished run again from scratch (its results are cleared); False if it is not finished."""
    with transaction.atomic():
        updated = Run.objects.filter(pk=run.pk, status__in=Run.FINISHED).update(
            status=Run.Status.QUEUED,
            reason="",
            queued_at=timezone.now(),
            dispatched_at=None,
            started_at=None,
            finished_at=None,
            timings={},
            sandbox={},
            visible={},
            log="",
        )
        if not updated:
            return False
        TestResult.objects.filter(run=run).delete()
        TicketVerdict.objects.filter(run=run).delete()
        # A fresh start: the attempts that ended it before do not count against the retry.
        task_attempt_clear(task=TASK_RUN, key=str(run.pk))
        task_attempt_clear(task=TASK_STARVED, key=str(run.pk))
        runs_dispatch(invite=run.invite)
    return True


def invite_rescore(*, invite: Invite, retry: str = Retry.NONE) -> Rescore:
    """Queue runs under the current grader for every branch head and the starting point.

    With ``retry``, finished runs of this grader are queued again as well (see Retry).
    """
    if retry not in Retry.CHOICES:
        raise ValueError(f"retry must be one of {', '.join(Retry.CHOICES)}, not {retry!r}")
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
    return Rescore(queued=queued, retried=retried, kept=len(targets) - queued)
