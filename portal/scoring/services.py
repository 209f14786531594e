"""Scoring a commit: export it, serve it in the sandbox, grade it from the trusted side, store a Run."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from assessment_app.grader.local import AppStartError
from assessment_app.grader.manifest import Manifest, load_manifest
from assessment_app.grader.run import GraderError, run_hidden_tests
from portal.assessments.runner import SandboxRunner
from portal.assessments.services import assessment_runtime
from portal.core.services import AttemptsExhausted, task_attempt_begin
from portal.hosting.services import repository_path
from portal.invites.models import Event, Invite
from portal.invites.services import event_record
from portal.scoring.models import Run, TestResult, TicketVerdict
from sandbox import SandboxError

logger = logging.getLogger(__name__)

LOG_CAP = 20_000
MESSAGE_CAP = 2_000
MAX_ATTEMPTS = 3
# The files whose behaviour decides a score: a change to any of them is a new grader version.
_GRADER_SOURCES = [
    *sorted((settings.BASE_DIR / "assessment_app" / "grader").glob("*.py")),
    settings.BASE_DIR / "portal" / "assessments" / "runner.py",
    Path(__file__),
]


def _grader_version() -> str:
    digest = hashlib.sha256()
    for path in _GRADER_SOURCES:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


GRADER_VERSION = _grader_version()


class TreeTooLarge(Exception):
    """The commit cannot be scored as it is (too many files, too large, unsafe paths); the message says why."""


def run_queue(*, invite: Invite, commit: str, ref: str) -> tuple[Run, bool]:
    """The run of ``commit`` under the current grader, created (and queued on commit) if new."""
    from portal.core.tasks import send_on_commit
    from portal.scoring.tasks import score_run

    defaults = {"ref": ref, "assessment_version": invite.assessment_version, "queued_at": timezone.now()}
    try:
        with transaction.atomic():
            run, created = Run.objects.get_or_create(
                invite=invite, commit=commit, grader_version=GRADER_VERSION, defaults=defaults
            )
    except IntegrityError:  # a concurrent push of the same commit created it first
        run, created = Run.objects.get(invite=invite, commit=commit, grader_version=GRADER_VERSION), False
    if created:
        send_on_commit(score_run, run_id=run.pk)
    return run, created


def _tree_size(repo: Path, commit: str) -> tuple[int, int]:
    listing = subprocess.run(
        ["git", "--git-dir", str(repo), "ls-tree", "-r", "-l", "-z", commit],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    files = total = 0
    for entry in filter(None, listing.split(b"\0")):
        meta = entry.split(b"\t", 1)[0].split()
        files += 1
        if len(meta) == 4 and meta[3].isdigit():
            total += int(meta[3])
    return files, total


def tree_export(*, repo: Path, commit: str, destination: Path) -> None:
    """Write the commit's tree into ``destination`` with `git archive` (no checkout, no hooks).

    A tree over the file-count or size cap raises TreeTooLarge rather than filling the disk.
    """
    files, total = _tree_size(repo, commit)
    if files > settings.PORTAL_SCORING_MAX_FILES:
        raise TreeTooLarge(f"the commit has {files} files; at most {settings.PORTAL_SCORING_MAX_FILES} are scored")
    if total > settings.PORTAL_SCORING_MAX_TREE_MB * 1024 * 1024:
        raise TreeTooLarge(
            f"the commit's files add up to {total / 1024 / 1024:.1f} MB; "
            f"at most {settings.PORTAL_SCORING_MAX_TREE_MB} MB are scored"
        )
    archive = subprocess.run(
        ["git", "--git-dir", str(repo), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        _extract(tar, destination)


def commit_fetch(*, invite: Invite, commit: str, destination: Path) -> Path:
    """Fetch one commit of the invite's repository over HTTP as the worker git user.

    For scoring workers that do not share the portal's disk; the worker credential may
    fetch any commit by id (including ones only hidden refs keep) and may not push.
    """
    from urllib.parse import quote, urlsplit

    from portal.hosting.gitrepo import git
    from portal.hosting.services import worker_git_token

    base = urlsplit(settings.PORTAL_INTERNAL_URL or settings.PORTAL_BASE_URL)
    url = f"{base.scheme}://worker:{quote(worker_git_token(), safe='')}@{base.netloc}/git/{invite.public_id}.git"
    git("init", "--quiet", "--bare", str(destination))
    git("--git-dir", str(destination), "fetch", "--quiet", "--depth", "1", url, commit)
    return destination


def _extract(tar: tarfile.TarFile, destination: Path) -> None:
    """Write the archive's directories, files and symlinks under ``destination`` and nothing else.

    Written by hand rather than with ``extractall(filter="data")``, which Debian's Python
    3.11.2 lacks: no absolute or ``..`` paths, nothing written through a symlink, files
    created fresh (never opened through an existing link), no devices or hard links.
    Symlinks are kept as symlinks; the sandbox copies them in without following them.
    """
    root = destination
    for member in tar.getmembers():
        parts = PurePosixPath(member.name).parts
        if not parts or member.name.startswith("/") or ".." in parts:
            raise TreeTooLarge(f"the commit holds an unsafe path: {member.name!r}")
        parent = root
        for part in parts[:-1]:
            parent = parent / part
            if parent.is_symlink():
                raise TreeTooLarge(f"the commit writes through a symbolic link: {member.name!r}")
        target = root.joinpath(*parts)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.issym():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(member.linkname, target)
        elif member.isfile():
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            with source, open(target, "xb") as sink:
                shutil.copyfileobj(source, sink)
            target.chmod(0o755 if member.mode & 0o111 else 0o644)


def _manifest(run: Run) -> Manifest:
    return load_manifest(run.assessment_version.package_dir)


def _claim(run_id: int) -> Run | None:
    """Move a queued (or reaped) run to running; None if another worker has it or it is done."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.finished:
            return None
        run.status = Run.Status.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
        return run


def _finish(run: Run, *, status: str, reason: str = "", **fields) -> Run:
    run.status = status
    run.reason = reason[:MESSAGE_CAP]
    run.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    event_record(
        invite=run.invite,
        kind=Event.Kind.SCORED,
        data={"run": run.pk, "commit": run.commit, "ref": run.ref, "status": status},
    )
    return run


def run_execute(*, run_id: int) -> Run | None:
    """Score one run; idempotent and safe to call again after a worker died."""
    try:
        task_attempt_begin(task="scoring.run", key=str(run_id), max_attempts=MAX_ATTEMPTS)
    except AttemptsExhausted as exc:
        run = Run.objects.filter(pk=run_id).first()
        if run is not None and not run.finished:
            return _finish(run, status=Run.Status.ERROR, reason=f"scoring stopped the worker {exc.attempts - 1} times")
        return run
    run = _claim(run_id)
    if run is None:
        return Run.objects.filter(pk=run_id).first()
    try:
        return _score(run)
    except Exception as exc:  # a failure of the portal, not of the candidate: recorded, then raised for the logs
        logger.exception("scoring run %s failed", run.pk)
        _finish(run, status=Run.Status.ERROR, reason=f"internal error while scoring: {exc.__class__.__name__}")
        raise


def _score(run: Run) -> Run:
    manifest = _manifest(run)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="score-") as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        started = time.monotonic()
        try:
            repo = repository_path(run.invite)
            if not repo.exists():
                # A worker on another host: fetch the commit from the portal's remote.
                repo = commit_fetch(invite=run.invite, commit=run.commit, destination=Path(scratch) / "fetched.git")
            tree_export(repo=repo, commit=run.commit, destination=tree)
        except TreeTooLarge as exc:
            return _finish(run, status=Run.Status.ERROR, reason=str(exc))
        timings["export"] = time.monotonic() - started

        try:
            runner = SandboxRunner(manifest=manifest, runtime=assessment_runtime(manifest=manifest))
        except SandboxError as exc:
            return _finish(run, status=Run.Status.ERROR, reason=f"the sandbox is unavailable: {exc}")

        app_tree = Path(scratch) / "app"
        shutil.copytree(tree, app_tree, symlinks=True)

        def visible_tests():
            began = time.monotonic()
            result = runner.run_visible_tests(tree)
            timings["visible"] = time.monotonic() - began
            return result

        # The candidate's own tests run in a sandbox of their own, on their own copy of the
        # tree, while the app is served and graded: the run takes the longer of the two.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="visible-tests") as pool:
            visible_future = pool.submit(visible_tests)
            started = time.monotonic()
            hidden = None
            reason = ""
            try:
                with runner.start_app(app_tree) as socket_path:
                    timings["app_start"] = time.monotonic() - started
                    started = time.monotonic()
                    try:
                        hidden = run_hidden_tests(socket_path, manifest=manifest)
                    except GraderError as exc:
                        reason = f"the hidden tests could not complete: {exc}"
                    timings["hidden"] = time.monotonic() - started
            except AppStartError as exc:
                reason = f"the app did not start: {exc}"
            app_result = runner.app_results[-1] if runner.app_results else None
            visible = visible_future.result()

    sandbox = _sandbox_summary(app_result)
    visible_summary = {
        "returncode": visible.returncode,
        "passed": sum(o.outcome == "passed" for o in visible.outcomes),
        "total": len(visible.outcomes),
        "failed": [o.test_id for o in visible.outcomes if o.outcome != "passed"],
        "output": visible.output[-4000:],
    }
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
        verdicts = []
        for ticket in manifest.tickets:
            outcomes = [o for o in hidden.outcomes if o.ticket == ticket.number]
            passed = sum(o.outcome == "passed" for o in outcomes)
            verdicts.append(
                TicketVerdict(
                    run=run,
                    ticket=ticket.number,
                    passed=bool(outcomes) and passed == len(outcomes),
                    tests_passed=passed,
                    tests_total=len(outcomes),
                )
            )
        TicketVerdict.objects.bulk_create(verdicts)
        status = Run.Status.PASSED if all(v.passed for v in verdicts) else Run.Status.FAILED
        return _finish(run, status=status, timings=timings, sandbox=sandbox, visible=visible_summary, log=log)


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
        "memory_peak": result.memory_peak,
        "mechanisms": {str(k): v for k, v in result.mechanisms.items()},
        "output": (result.stderr + result.stdout)[-4000:].decode(errors="replace"),
    }


def runs_reap(*, now=None) -> int:
    """Requeue runs stuck in "running" past the hard time limit (their worker is gone)."""
    from portal.core.tasks import send_on_commit
    from portal.scoring.tasks import score_run

    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    reaped = 0
    for run in Run.objects.filter(status=Run.Status.RUNNING, started_at__lt=stale):
        with transaction.atomic():
            updated = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(status=Run.Status.QUEUED)
            if updated:
                reaped += 1
                send_on_commit(score_run, run_id=run.pk)
    return reaped


def invite_rescore(*, invite: Invite) -> tuple[int, int]:
    """Queue runs under the current grader for every branch head and the starting point.

    Returns (queued, already scored by this grader).
    """
    import git

    repo = git.Repo(repository_path(invite))
    targets = {next(repo.iter_commits("refs/heads/main", max_parents=0)).hexsha: "refs/heads/main"}
    for head in repo.heads:
        targets.setdefault(head.commit.hexsha, head.path)
    queued = 0
    for commit, ref in targets.items():
        _run, created = run_queue(invite=invite, commit=commit, ref=ref)
        queued += created
    return queued, len(targets) - queued


INTEGRATED_REF = "refs/portal/integrated"


@dataclass(frozen=True)
class Integration:
    """All ticket branches merged together: the commit, and the branches that could not be merged."""

    commit: str | None
    merged: tuple[str, ...]
    conflicts: tuple[tuple[str, str], ...]  # (branch, files in conflict)


def integration_build(*, invite: Invite) -> Integration:
    """Merge every issue-<n> branch head, in ticket order, into one commit kept under a hidden ref.

    Built with `git merge-tree --write-tree` (no work tree, no hooks). The commit has a fixed
    identity and date, so the same heads always give the same commit and the same run.
    A branch that conflicts with those merged before it is left out and reported.
    """
    import git

    from portal.scoring.hygiene import branch_ticket

    path = repository_path(invite)
    repo = git.Repo(path)
    heads = sorted(
        ((branch_ticket(h.name), h.name, h.commit) for h in repo.heads if branch_ticket(h.name) is not None),
        key=lambda item: item[0],
    )
    if len(heads) < 2:
        return Integration(commit=None, merged=tuple(name for _, name, _ in heads), conflicts=())
    identity = {
        "GIT_AUTHOR_NAME": settings.PORTAL_GIT_AUTHOR[0],
        "GIT_AUTHOR_EMAIL": settings.PORTAL_GIT_AUTHOR[1],
        "GIT_COMMITTER_NAME": settings.PORTAL_GIT_AUTHOR[0],
        "GIT_COMMITTER_EMAIL": settings.PORTAL_GIT_AUTHOR[1],
    }
    _, first_name, current = heads[0]
    merged, conflicts = [first_name], []
    for _, name, commit in heads[1:]:
        try:
            tree = repo.git.merge_tree("--write-tree", "--name-only", current.hexsha, commit.hexsha).splitlines()[0]
        except git.GitCommandError as exc:
            files = [line for line in (exc.stdout or "").strip("' \n").splitlines()[1:] if line and " " not in line]
            conflicts.append((name, ", ".join(files[:10]) or "conflicting changes"))
            continue
        date = str(max(current.committed_date, commit.committed_date)) + " +0000"
        sha = repo.git.commit_tree(
            tree, "-p", current.hexsha, "-p", commit.hexsha, "-m", f"Integrate {', '.join([*merged, name])}",
            env={**identity, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
        )  # fmt: skip
        current = repo.commit(sha)
        merged.append(name)
    if len(merged) < 2:
        return Integration(commit=None, merged=tuple(merged), conflicts=tuple(conflicts))
    repo.git.update_ref(f"{INTEGRATED_REF}/{current.hexsha}", current.hexsha)
    return Integration(commit=current.hexsha, merged=tuple(merged), conflicts=tuple(conflicts))


def integration_queue(*, invite: Invite) -> tuple[Integration, Run | None]:
    integration = integration_build(invite=invite)
    if integration.commit is None:
        return integration, None
    run, _ = run_queue(invite=invite, commit=integration.commit, ref=INTEGRATED_REF)
    return integration, run
