"""The suite's one way to make candidates, invites, pushes and scored runs.

Each helper goes through the same service the portal uses, so a test's setup is what a real
invite, push or worker would leave behind.
"""

from __future__ import annotations

from itertools import count

import gitplumbing
from portal.assessments.models import AssessmentVersion
from portal.hosting.models import Push
from portal.hosting.services import invite_open, push_record, repository_path
from portal.invites.models import Candidate, Invite
from portal.invites.services import InviteCreated, candidate_get_or_create
from portal.scoring.analysis import analysis_update
from portal.scoring.models import Run, TicketVerdict
from portal.scoring.selectors import InviteResult, invite_result
from portal.scoring.services import analysis_request, push_score, run_execute

_emails = count(1)


def make_candidate(name: str = "Ann Example", email: str | None = None) -> Candidate:
    email = email or f"candidate{next(_emails)}@example.com"
    return candidate_get_or_create(name=name, email=email)


def make_invite(
    assessment_version: AssessmentVersion, *, name: str = "Ann Example", email: str | None = None, **fields
) -> InviteCreated:
    """A new invite with its repository, as `manage.py invite` makes it; ``fields``: deadline, time_limit."""
    return invite_open(candidate=make_candidate(name, email), assessment_version=assessment_version, **fields)


def record_push(invite: Invite, updates: list[tuple[str, str, str]], address: str = "127.0.0.1") -> Push:
    """What the git view does after git accepted a push: record it and hand it to scoring."""
    push = push_record(invite=invite, updates=updates, address=address, user_agent="git/test")
    push_score(push=push)
    return push


def score_all(invite: Invite, *, rounds: int = 4) -> InviteResult:
    """Do in this process what the workers would: every queued run, then the analysis, until done.

    The analysis may queue one more run (the integrated commit), hence the rounds.
    """
    for _ in range(rounds):
        for run_id in Run.objects.filter(invite=invite, status=Run.Status.QUEUED).values_list("pk", flat=True):
            run_execute(run_id=run_id)
        analysis_update(invite_id=invite.pk)
        if not Run.objects.filter(invite=invite, status=Run.Status.QUEUED).exists():
            break
    return invite_result(invite=invite)


def score_commit(invite: Invite, sha: str) -> Run:
    """Score only this commit's queued run, in this process, and return it.

    For tests about one submission: the starting point queued with a first push stays queued, so
    they do not pay for a run they never look at.
    """
    for run_id in Run.objects.filter(invite=invite, commit=sha, status=Run.Status.QUEUED).values_list("pk", flat=True):
        run_execute(run_id=run_id)
    return Run.objects.get(invite=invite, commit=sha)


def push_branches(invite: Invite, count: int) -> dict[str, str]:
    """``count`` branches (issue-1..6, then topic-NNNN), each at its own empty commit on top of the
    starting point, pushed in one push. Made with plumbing: fast enough for hundreds of branches."""
    path = repository_path(invite)
    base = invite.repository.base_commit
    tree = gitplumbing.text("rev-parse", f"{base}^{{tree}}", git_dir=path)
    env = gitplumbing.identity_env("Ann Example", "ann@example.com", date="1700000000 +0000")
    heads = {}
    for n in range(count):
        name = f"issue-{n + 1}" if n < 6 else f"topic-{n:04d}"
        message = f"Fix: Resolve issue #{n + 1} - try {n}"
        heads[name] = gitplumbing.text("commit-tree", tree, "-p", base, "-m", message, git_dir=path, env=env)
    gitplumbing.update_refs(path, "".join(f"create refs/heads/{name} {sha}\n" for name, sha in heads.items()))
    record_push(invite, [(gitplumbing.ZERO_SHA, sha, f"refs/heads/{name}") for name, sha in heads.items()])
    return heads


def store_verdicts(invite: Invite, *, passing: frozenset[int] = frozenset({1}), tickets: int = 6) -> None:
    """Finish every queued run with the verdicts a worker would store (the ``passing`` tickets pass),
    then analyse; twice, since the analysis queues the run of the integrated commit.

    For tests and benchmarks of what reads results; the sandbox is not started.
    """
    for _ in range(2):
        for run in Run.objects.filter(invite=invite, status=Run.Status.QUEUED):
            Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)
            TicketVerdict.objects.bulk_create(
                TicketVerdict(run=run, ticket=t, passed=t in passing, tests_passed=int(t in passing), tests_total=1)
                for t in range(1, tickets + 1)
            )
        analysis_request(invite=invite)  # as a finished run does
        analysis_update(invite_id=invite.pk)
