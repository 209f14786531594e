"""Stored results with a contested ticket, without the sandbox: the hidden tests pass ticket 2 on
issue-2 while the candidate's own visible test for it fails on that commit (what an app that
recognises the grader's requests leaves behind)."""

from __future__ import annotations

import gitplumbing
from portal.hosting.services import repository_path
from portal.invites.models import Invite
from portal.scoring.models import Run, TestResult
from tests.support.factories import push_branches, record_push, store_verdicts

TICKET = 2
HIDDEN = ("hidden/test_ticket_2.py::test_removed_book_is_not_found", "hidden/test_ticket_2.py::test_unknown_id")


def visible_tests(invite: Invite, ticket: int = TICKET) -> list[str]:
    """The manifest's visible tests of ``ticket``."""
    return next(t["visible_tests"] for t in invite.assessment_version.manifest["tickets"] if t["number"] == ticket)


def _queued_run(invite: Invite, head: str) -> Run:
    return Run.objects.get(invite=invite, commit=head, status=Run.Status.QUEUED)


def _disagree(invite: Invite, head: str, *, own_fails: bool, passing) -> None:
    """Give the queued run of ``head`` the candidate's visible results (the tests of tickets not
    ``passing`` fail, as shipped, and ticket 2's if ``own_fails``) and ticket 2's hidden test results."""
    run = _queued_run(invite, head)
    numbers = [t["number"] for t in invite.assessment_version.manifest["tickets"]]
    failed = [
        test for n in numbers if n not in passing or (n == TICKET and own_fails) for test in visible_tests(invite, n)
    ]
    Run.objects.filter(pk=run.pk).update(
        visible={"returncode": int(own_fails), "passed": 20, "total": 21, "failed": failed}
    )
    TestResult.objects.bulk_create(
        TestResult(run=run, test_id=test_id, ticket=TICKET, outcome="passed") for test_id in HIDDEN
    )


def contested_invite(invite: Invite, *, own_fails: bool = True, passing=frozenset({1, TICKET})) -> dict[str, str]:
    """issue-1 and issue-2 pushed and scored from stored results: both pass their hidden tests; on issue-2
    the candidate's own test for ticket 2 fails (``own_fails``). The branch heads."""
    heads = push_branches(invite, 2)
    _disagree(invite, heads["issue-2"], own_fails=own_fails, passing=passing)
    store_verdicts(invite, passing=passing)
    return heads


def push_again(invite: Invite, branch: str, *, own_fails: bool = True, passing=frozenset({1, TICKET})) -> str:
    """A new commit on ``branch`` pushed and scored the same way; its head."""
    path = repository_path(invite)
    old = gitplumbing.text("rev-parse", f"refs/heads/{branch}", git_dir=path)
    tree = gitplumbing.text("rev-parse", f"{old}^{{tree}}", git_dir=path)
    env = gitplumbing.identity_env("Ann Example", "ann@example.com", date="1700000100 +0000")
    new = gitplumbing.text(
        "commit-tree", tree, "-p", old, "-m", f"Fix: Resolve issue #{TICKET} - again", git_dir=path, env=env
    )
    gitplumbing.update_refs(path, f"update refs/heads/{branch} {new} {old}\n")
    record_push(invite, [(old, new, f"refs/heads/{branch}")])
    _disagree(invite, new, own_fails=own_fails, passing=passing)
    store_verdicts(invite, passing=passing)
    return new
