"""An invite's analysis, computed once by a worker and stored; pages, `report` and the API only read it.

analysis_update(invite_id), run by the "analysis.invite" task after every finished run and every
push that queued none (portal.scoring.services.analysis_request):

1. reads the branch heads from the repository and the starting commit from its Repository row;
2. merges every issue-<n> head, in ticket order, into one commit under a hidden ref
   (integration_build) and queues the run of it;
3. builds the ticket x branch matrix from the latest run of each head: verdicts, hidden tests that
   passed on the starting point and fail on the branch (regressions), other tickets a branch
   changes (scope creep), and the points earned per ticket;
4. adds git-hygiene findings, the tickets whose hidden tests and the candidate's own visible tests
   disagree on a head (disagreements), and code-quality signals (ruff on changed lines; reused for
   a branch whose head has not moved since the last analysis); a ticket whose hidden tests pass on
   its own branch while its visible tests fail there is *contested*: its points count only once a
   reviewer confirms it on that commit (ContestDecision, copied in by contests_apply);
5. reads, once per head, the evidence a reviewer reads (commits, diff, visible tests changed) into
   BranchEvidence rows, and notes each branch's force-pushes from the push log;
6. stores it all as JSON in InviteAnalysis, unless a newer computation got there first.

Work is bounded whatever a candidate pushes: at most MAX_BRANCHES branches are analysed (main
and the issue-<n> branches first, then by name) and at most MAX_QUALITY_BRANCHES get ruff; a
finding says how many were left out.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

import gitplumbing
from gitplumbing import identity_env
from gitplumbing.diffs import FileDiff, commits_between, diff_between
from grader.manifest import Manifest
from portal.assessments.services import version_manifest
from portal.core.memo import Memo
from portal.hosting.models import RefUpdate
from portal.hosting.pulls import COMMITS_MAX, DIFF_MAX_BYTES, DIFF_MAX_FILES, DIFF_MAX_LINES
from portal.hosting.services import repository_path
from portal.invites.models import Invite
from portal.scoring.hygiene import (
    ANALYSIS_CAPPED,
    WARNING,
    Finding,
    RefUpdateInfo,
    branch_ticket,
    compare_test_file,
    hygiene_findings,
)
from portal.scoring.models import BranchEvidence, ContestDecision, InviteAnalysis, Run, TestResult
from portal.scoring.quality import quality_signals
from portal.scoring.services import run_queue, runs_supersede
from portal.scoring.version import GRADER_VERSION

logger = logging.getLogger(__name__)

INTEGRATED_REF = "refs/portal/integrated"
MAX_BRANCHES = 60
MAX_QUALITY_BRANCHES = 20
ERROR_CAP = 2_000
# A ticket's hidden tests and the candidate's own visible tests for it disagree on one commit: a reason to look.
VISIBLE_HIDDEN_DISAGREE = "visible_hidden_disagree"


@dataclass(frozen=True)
class Integration:
    """All ticket branches merged together: the commit, and the branches that could not be merged."""

    commit: str | None
    merged: tuple[str, ...]
    conflicts: tuple[tuple[str, str], ...]  # (branch, files in conflict)


def analysis_update(*, invite_id: int) -> InviteAnalysis | None:
    """Compute and store the invite's analysis if it was asked for since the last one (idempotent)."""
    # This task has started: a request from now on sends another, which will see what this one misses.
    InviteAnalysis.objects.filter(invite_id=invite_id).update(task_sent_at=None)
    analysis = (
        InviteAnalysis.objects.select_related("invite__assessment_version", "invite__repository")
        .filter(invite_id=invite_id)
        .first()
    )
    if analysis is None or not analysis.pending:
        return analysis
    wanted = analysis.requested
    started = time.monotonic()
    error = ""
    try:
        result = analysis_compute(invite=analysis.invite, previous=analysis.result)
    except Exception as exc:  # a failure of the portal: the previous result stays, the error is shown
        logger.exception("analysis of invite %s failed", invite_id)
        result, error = analysis.result, f"{exc.__class__.__name__}: {exc}"[:ERROR_CAP]
    with transaction.atomic():
        # Locked, so a reviewer's decision is either seen here or applied to what this stores.
        InviteAnalysis.objects.select_for_update().filter(pk=analysis.pk).first()
        result = contests_apply(result, contest_decisions(invite_id=invite_id))
        # A computation that started later may already have stored a newer result: never go back.
        InviteAnalysis.objects.filter(pk=analysis.pk, computed__lt=wanted).update(
            computed=wanted,
            computed_at=timezone.now(),
            duration=time.monotonic() - started,
            error=error,
            result=result,
        )
    analysis.refresh_from_db()
    return analysis


def branch_order(name: str) -> tuple[int, int, str]:
    """main first, then issue-<n> by ticket, then every other branch by name."""
    if name == "main":
        return (0, 0, name)
    ticket = branch_ticket(name)
    return (1, ticket, name) if ticket is not None else (2, 0, name)


def analysis_compute(*, invite: Invite, previous: dict | None = None) -> dict:
    """The invite's result as JSON-ready data (see the module docstring for the steps)."""
    manifest = version_manifest(invite.assessment_version)
    path = repository_path(invite)
    base = invite.repository.base_commit
    all_heads = gitplumbing.heads(path)
    names = sorted(all_heads, key=branch_order)
    heads = {name: all_heads[name] for name in names[:MAX_BRANCHES]}
    left_out = len(names) - len(heads)

    integration = integration_build(path=path, heads=heads)
    runs_supersede(
        invite=invite,
        refs=INTEGRATED_REF,
        keep={integration.commit} if integration.commit else set(),
        reason="the branches changed before a worker took this run; the new integration is scored instead",
    )
    if integration.commit is not None:
        run_queue(invite=invite, commit=integration.commit, ref=INTEGRATED_REF)

    commits = {base, *heads.values()} | ({integration.commit} if integration.commit else set())
    runs = _latest_runs(invite, commits)
    baseline = runs.get(base)
    baseline_cells = _cells(baseline, manifest)
    baseline_passed = _passed_tests(baseline)

    branches = []
    for name, head in heads.items():
        run = runs.get(head)
        cells = _cells(run, manifest)
        own = branch_ticket(name)
        changed = [
            number
            for number, cell in cells.items()
            if number != own and cell["passed"] is not None and cell["passed"] != baseline_cells[number]["passed"]
        ]
        regressions = sorted(baseline_passed - _passed_tests(run)) if run and run.finished else []
        branches.append(
            {
                "branch": name,
                "head": head,
                "run": _run_data(run),
                "cells": cells,
                "regressions": regressions,
                "other_tickets_changed": changed,
            }
        )

    cases = disagreement_cases(manifest=manifest, path=path, heads=heads, runs=runs)
    contests = {
        case.ticket: _contest(case, runs[case.head])
        for case in cases
        if case.hidden_passed and case.branch == f"issue-{case.ticket}"
    }
    by_name = {b["branch"]: b for b in branches}
    tickets = []
    for ticket in manifest.tickets:
        branch = by_name.get(f"issue-{ticket.number}")
        passed = branch["cells"][ticket.number]["passed"] if branch else None
        entry = {
            "number": ticket.number,
            "title": ticket.title,
            "points": ticket.points,
            "branch": branch["branch"] if branch else None,
            "passed": passed,
            "contested": contests.get(ticket.number) if passed else None,
            # Partial credit of an unfixed ticket (hidden tests with points): counted by ticket_earned.
            "partial": branch["cells"][ticket.number]["earned"] if branch and passed is False else 0,
        }
        tickets.append({**entry, "earned": ticket_earned(entry)})

    findings = _findings(invite, manifest, path, base, heads, branches, integration, left_out)
    findings += [_disagreement_finding(case) for case in cases]
    evidence_update(invite=invite, manifest=manifest, path=path, base=base, heads=heads)
    integrated = None
    if integration.commit is not None:
        run = runs.get(integration.commit)
        integrated = {"head": integration.commit, "run": _run_data(run), "cells": _cells(run, manifest)}
    return {
        "grader_version": GRADER_VERSION,
        "base": base,
        "baseline": _run_data(baseline),
        "tickets": tickets,
        "branches": branches,
        "branches_left_out": left_out,
        "integration": {
            "commit": integration.commit,
            "merged": list(integration.merged),
            "conflicts": [list(c) for c in integration.conflicts],
        },
        "integrated": integrated,
        "findings": [asdict(f) for f in findings],
        "quality": _quality(path, base, heads, (previous or {}).get("quality", [])),
        "force_pushes": _force_pushes(invite, heads),
    }


def _latest_runs(invite: Invite, commits: set[str]) -> dict[str, Run]:
    """The run of each commit under the current grader, else its latest run under any grader."""
    runs = (
        Run.objects.filter(invite=invite, commit__in=commits)
        .prefetch_related(
            "verdicts",
            Prefetch("results", queryset=TestResult.objects.only("run", "test_id", "ticket", "outcome", "guard")),
        )
        .order_by("queued_at", "id")
    )
    latest: dict[str, Run] = {}
    for run in runs:
        current = latest.get(run.commit)
        if current is None or current.grader_version != GRADER_VERSION:
            latest[run.commit] = run
    return latest


def _run_data(run: Run | None) -> dict | None:
    if run is None:
        return None
    return {"id": run.pk, "status": run.status, "reason": run.reason, "grader": run.grader_version}


def verdict_earned(verdict, points: int) -> int:
    """The points a stored verdict earns: its own figure, or all or nothing on a run scored before
    partial credit (grader.verdicts)."""
    if verdict.earned is not None:
        return min(verdict.earned, points)
    return points if verdict.passed else 0


def _cells(run: Run | None, manifest: Manifest) -> dict[int, dict]:
    empty = {"passed": None, "tests_passed": 0, "tests_total": 0, "earned": 0}
    if run is None or run.status not in (Run.Status.PASSED, Run.Status.FAILED):
        return {t.number: dict(empty) for t in manifest.tickets}
    verdicts = {v.ticket: v for v in run.verdicts.all()}
    return {
        t.number: {
            "passed": verdicts[t.number].passed,
            "tests_passed": verdicts[t.number].tests_passed,
            "tests_total": verdicts[t.number].tests_total,
            "earned": verdict_earned(verdicts[t.number], t.points),
        }
        if t.number in verdicts
        else dict(empty)
        for t in manifest.tickets
    }


def _passed_tests(run: Run | None) -> set[str]:
    if run is None:
        return set()
    return {r.test_id for r in run.results.all() if r.outcome == "passed"}


def _findings(invite, manifest, path, base, heads, branches, integration, left_out) -> list[Finding]:
    updates = [
        RefUpdateInfo(ref=u.ref, old_sha=u.old_sha, new_sha=u.new_sha, kind=u.kind, at=u.push.at)
        for u in RefUpdate.objects.filter(push__invite=invite).select_related("push").order_by("push__at", "id")
    ]
    visible_paths = sorted({node.split("::", 1)[0] for t in manifest.tickets for node in t.visible_tests})
    findings = hygiene_findings(
        repo_path=path,
        base=base,
        branches=heads,
        tickets=[t.number for t in manifest.tickets],
        visible_test_paths=visible_paths,
        ref_updates=updates,
        scope_creep={b["branch"]: b["other_tickets_changed"] for b in branches if b["other_tickets_changed"]},
    )
    findings += [
        Finding(
            kind="merge_conflict",
            severity=WARNING,
            message=f"{branch} does not merge cleanly with {', '.join(integration.merged) or 'the other branches'}",
            ref=f"refs/heads/{branch}",
            ticket=branch_ticket(branch),
            paths=tuple(p.strip() for p in files.split(",")),
        )
        for branch, files in integration.conflicts
    ]
    if left_out:
        findings.append(
            Finding(
                kind=ANALYSIS_CAPPED,
                severity=WARNING,
                message=f"{left_out} more branches were not analysed; at most {MAX_BRANCHES} are.",
            )
        )
    return findings


@dataclass(frozen=True)
class Disagreement:
    """One ticket on one branch head whose hidden verdict and the candidate's own visible tests differ."""

    ticket: int
    branch: str
    head: str
    hidden_passed: bool
    tests: tuple[str, ...]  # the visible tests that say otherwise (failing ones, or all of them passing)
    visible: tuple[tuple[str, str], ...]  # each of the ticket's visible tests: (id, "passed"/"failed"/"missing")


def disagreement_cases(*, manifest: Manifest, path, heads: dict[str, str], runs: dict[str, Run]) -> list[Disagreement]:
    """Per branch head with a finished scored run, the tickets whose hidden verdict and the candidate's
    own visible tests for them (the manifest's ``visible_tests``) disagree on that commit.

    Hidden passed while one of the ticket's visible tests failed, or hidden failed while all of them
    passed. Visible tests that did not run (no visible summary, nothing collected) say nothing, and a
    visible test the branch no longer has did not pass. An app that recognises the grader can pass
    hidden tests its own test still fails; an edited visible test can pass on an app still broken.
    """
    cases = []
    for name, head in heads.items():
        run = runs.get(head)
        if run is None or run.status not in (Run.Status.PASSED, Run.Status.FAILED) or not _visible_ran(run):
            continue
        failed = [str(test_id) for test_id in run.visible.get("failed", [])]
        verdicts = {verdict.ticket: verdict.passed for verdict in run.verdicts.all()}
        present = _present_tests(path, head, manifest)
        for ticket in manifest.tickets:
            tests = list(ticket.visible_tests)
            if not tests or ticket.number not in verdicts:
                continue
            failing = [test_id for test_id in tests if visible_failed(test_id, failed)]
            visible = tuple(
                (test_id, "failed" if test_id in failing else "passed" if test_id in present else "missing")
                for test_id in tests
            )
            if verdicts[ticket.number] and failing:
                cases.append(Disagreement(ticket.number, name, head, True, tuple(failing), visible))
            elif not verdicts[ticket.number] and not failing and all(test_id in present for test_id in tests):
                cases.append(Disagreement(ticket.number, name, head, False, tuple(tests), visible))
    return cases


def disagreements(*, manifest: Manifest, path, heads: dict[str, str], runs: dict[str, Run]) -> list[Finding]:
    """The disagreement_cases as warnings on their branches."""
    return [
        _disagreement_finding(case) for case in disagreement_cases(manifest=manifest, path=path, heads=heads, runs=runs)
    ]


# Contested tickets: the hidden tests pass a ticket on its branch while the candidate's own visible
# tests for it fail on the same commit. An app can recognise the grader's requests and answer them
# alone correctly; the points then wait for a reviewer, who confirms (they count) or overturns (0).

CONFIRMED = ContestDecision.Decision.CONFIRMED.value
OVERTURNED = ContestDecision.Decision.OVERTURNED.value


def _contest(case: Disagreement, run: Run) -> dict:
    """The evidence of a contested ticket, side by side: its hidden tests on the run, its visible tests."""
    hidden = sorted(
        (result.test_id.rsplit("::", 1)[-1], result.outcome)
        for result in run.results.all()
        if result.ticket == case.ticket and not result.guard  # a guard is no evidence of the ticket
    )
    return {
        "branch": case.branch,
        "head": case.head,
        "run": run.pk,
        "hidden": [{"name": name, "outcome": outcome} for name, outcome in hidden],
        "visible": [{"id": test_id, "outcome": outcome} for test_id, outcome in case.visible],
        "decision": None,
    }


def ticket_earned(ticket: dict) -> int:
    """The points a stored ticket entry counts: its points if its branch fixes it, unless it is contested
    and no reviewer confirmed it on that commit; when not fixed, the partial credit its branch's hidden
    tests with points earn (``partial``, 0 without). The one rule every page and export counts by."""
    if not isinstance(ticket, dict):
        return 0
    if not ticket.get("passed"):
        partial, points = ticket.get("partial", 0), ticket.get("points", 0)
        if isinstance(partial, bool) or not isinstance(partial, int) or not isinstance(points, int):
            return 0
        return max(0, min(partial, points - 1))
    contested = ticket.get("contested")
    if isinstance(contested, dict) and (contested.get("decision") or {}).get("decision") != CONFIRMED:
        return 0
    points = ticket.get("points", 0)
    return points if isinstance(points, int) else 0


def ticket_contested_points(ticket: dict) -> int:
    """The points of a ticket that wait for a reviewer's decision (0 when it is not contested or decided)."""
    if not isinstance(ticket, dict) or not ticket.get("passed") or not isinstance(ticket.get("contested"), dict):
        return 0
    if ticket["contested"].get("decision"):
        return 0
    points = ticket.get("points", 0)
    return points if isinstance(points, int) else 0


def contest_decisions(*, invite_id: int) -> dict[tuple[int, str], dict]:
    """(ticket, commit) -> the reviewer's decision on it, as stored in a result; one query."""
    return {
        (row.ticket, row.commit): {
            "decision": row.decision,
            "by": row.decided_by.get_username() if row.decided_by else "a former user",
            "at": row.decided_at.isoformat(),
            "note": row.note,
        }
        for row in ContestDecision.objects.filter(invite_id=invite_id).select_related("decided_by")
    }


def contests_apply(result: dict | None, decisions: dict[tuple[int, str], dict]) -> dict | None:
    """The stored result with each contested ticket's decision (made on its current head) and the
    points it counts; a decision made on another commit does not apply."""
    if not isinstance(result, dict) or not isinstance(result.get("tickets"), list):
        return result
    tickets = []
    for ticket in result["tickets"]:
        contested = ticket.get("contested") if isinstance(ticket, dict) else None
        if isinstance(contested, dict):
            decision = decisions.get((ticket.get("number"), contested.get("head")))
            ticket = {**ticket, "contested": {**contested, "decision": decision}}
            ticket["earned"] = ticket_earned(ticket)
        tickets.append(ticket)
    return {**result, "tickets": tickets}


def _visible_ran(run: Run) -> bool:
    visible = run.visible or {}
    return bool(visible.get("total"))


def _dotted(test_id: str) -> str:
    """A test id as one dotted name, without parameters: "tests/test_a.py::TestX::test_y[1]" and the
    id the JUnit reader rebuilds without a file attribute ("tests/test_a/TestX.py::test_y") are equal."""
    path, _, rest = test_id.strip().removeprefix("./").partition("::")
    name = rest.split("[", 1)[0]
    return ".".join(part for part in (path.removesuffix(".py").replace("/", "."), name.replace("::", ".")) if part)


def visible_failed(test_id: str, failed: list[str]) -> bool:
    """Did the manifest's ``test_id`` fail, given the ids (grader.junit) of the visible tests that did
    not pass? A parametrised test fails if any case does; a file that failed to be collected (JUnit
    names it "<path>::<dotted module>") fails all its tests."""
    wanted = _dotted(test_id)
    module = _dotted(test_id.partition("::")[0])
    collection_error = f"{module}.{module}"
    return any(_dotted(other) in (wanted, module, collection_error) for other in failed)


def _present_tests(path, head: str, manifest: Manifest) -> frozenset[str]:
    """The manifest's visible test ids still defined at ``head`` (a file that does not parse has none).

    Kept by the repository, the head and the files (_PRESENT): every analysis asks again for every
    branch, and a commit's files never change."""
    files = tuple(
        sorted({test_id.partition("::")[0] for ticket in manifest.tickets for test_id in ticket.visible_tests})
    )
    return _PRESENT.get((str(path), head, files), partial(_tests_defined, path, head, files))


def _tests_defined(path, head: str, files: tuple[str, ...]) -> frozenset[str]:
    read = _file_reader(path, head, head)
    present: set[str] = set()
    for name in files:
        data = read("head", name)
        comparison = compare_test_file(name, None, data) if data is not None else None
        if comparison is not None and comparison.parsed:
            present.update(comparison.added)
    return frozenset(present)


_PRESENT = Memo(1024, budget=8 * 1024 * 1024)  # a few hundred test ids per head


def _disagreement_finding(case: Disagreement) -> Finding:
    ticket, branch, head, tests = case.ticket, case.branch, case.head, list(case.tests)
    hidden, own = ("pass", "fail") if case.hidden_passed else ("fail", "pass")
    verb = own if len(tests) > 1 else {"pass": "passes", "fail": "fails"}[own]
    what = f"test{'s' if len(tests) > 1 else ''} {', '.join(tests)}"
    return Finding(
        kind=VISIBLE_HIDDEN_DISAGREE,
        severity=WARNING,
        message=f"#{ticket}: the hidden tests {hidden} on {branch} but the candidate's own {what} {verb} "
        f"on the same commit ({head[:7]}).",
        ref=f"refs/heads/{branch}",
        ticket=ticket,
        commits=(head,),
        paths=tuple(sorted({test_id.partition("::")[0] for test_id in tests})),
        lines=tuple(tests),
    )


def _quality(path, base: str, heads: dict[str, str], previous: list[dict]) -> list[dict]:
    """Quality signals per changed branch; ruff runs only for heads not seen by the last analysis."""
    known = {(q.get("branch"), q.get("head")): q for q in previous}
    signals = []
    for name, head in heads.items():
        if head == base:
            continue
        if len(signals) >= MAX_QUALITY_BRANCHES:
            break
        cached = known.get((name, head))
        if cached is None:
            cached = {**asdict(quality_signals(repo_path=path, base=base, branch=name, head=head)), "head": head}
        signals.append(cached)
    return signals


def integration_build(*, path, heads: dict[str, str]) -> Integration:
    """Merge every issue-<n> branch head, in ticket order, into one commit kept under a hidden ref.

    Built with `git merge-tree --write-tree` (no work tree, no hooks). The commit has a fixed
    identity and date, so the same heads always give the same commit and the same run.
    A branch that conflicts with those merged before it is left out and reported.
    """
    ticket_heads = sorted(
        ((branch_ticket(name), name, sha) for name, sha in heads.items() if branch_ticket(name) is not None),
        key=lambda item: item[0],
    )
    if len(ticket_heads) < 2:
        return Integration(commit=None, merged=tuple(name for _, name, _ in ticket_heads), conflicts=())
    author = settings.PORTAL_GIT_AUTHOR
    _, first_name, current = ticket_heads[0]
    merged, conflicts = [first_name], []
    for _, name, sha in ticket_heads[1:]:
        result = gitplumbing.run("merge-tree", "--write-tree", "--name-only", current, sha, git_dir=path, check=False)
        lines = result.stdout.decode(errors="replace").splitlines()
        if result.returncode == 1:  # conflicts: the tree, then the conflicted paths up to a blank line
            files = []
            for line in lines[1:]:
                if not line:
                    break
                files.append(line)
            conflicts.append((name, ", ".join(files[:10]) or "conflicting changes"))
            continue
        if result.returncode != 0:
            raise gitplumbing.GitError(f"git merge-tree failed: {result.stderr.decode(errors='replace').strip()}")
        tree = lines[0]
        dates = gitplumbing.text("show", "-s", "--format=%ct", current, sha, git_dir=path).split()
        date = f"{max(int(d) for d in dates)} +0000"
        current = gitplumbing.text(
            "commit-tree", tree, "-p", current, "-p", sha, "-m", f"Integrate {', '.join([*merged, name])}",
            git_dir=path, env=identity_env(*author, date=date),
        )  # fmt: skip
        merged.append(name)
    if len(merged) < 2:
        return Integration(commit=None, merged=tuple(merged), conflicts=tuple(conflicts))
    gitplumbing.run("update-ref", f"{INTEGRATED_REF}/{current}", current, git_dir=path)
    return Integration(commit=current, merged=tuple(merged), conflicts=tuple(conflicts))


# Evidence for the reviewer: read from git here, once per head, so the report never runs git.


def shipped_test_folders(manifest: Manifest) -> tuple[str, ...]:
    """The folders holding the shipped visible tests ("tests/"): the folders of their files."""
    folders = set()
    for ticket in manifest.tickets:
        for node in ticket.visible_tests:
            path = node.split("::", 1)[0]
            if "/" in path:
                folders.add(path.split("/", 1)[0] + "/")
    return tuple(sorted(folders)) or ("tests/",)


def _is_test_file(path: str, folders: tuple[str, ...]) -> bool:
    name = path.rsplit("/", 1)[-1]
    in_folder = path.startswith(folders)
    return (in_folder and name.endswith(".py")) or name.startswith("test_") or name.endswith("_test.py")


def visible_test_changes(
    *, files: list[FileDiff], shipped: set[str], folders: tuple[str, ...], read=None
) -> list[dict]:
    """Shipped test files (under ``folders`` at the starting point) the branch modified, renamed
    away or deleted, and test files it added: path, what happened, lines added and removed, and,
    test by test (``read(side, path)`` gives a file's bytes at "base" or "head", or None), the tests
    it adds and the shipped tests it changes. ``shipped`` is True when a test the candidate was given
    changed or is gone; a shipped file that only gains tests is credited like a new one."""
    changes = []
    for entry in files:
        source = entry.old_path if entry.old_path is not None else entry.path
        if source in shipped and entry.status != "added":
            change = "modified" if entry.status in ("modified", "type changed") else entry.status
        elif entry.path not in shipped and entry.status in ("added", "renamed", "copied"):
            if not _is_test_file(entry.path, folders):
                continue
            change = "added"
        else:
            continue
        tests = _test_level(entry, change, read)
        changes.append(
            {
                "path": entry.path,
                "old_path": entry.old_path,
                "change": change,
                "shipped": _changes_shipped_tests(change, tests),
                "additions": entry.additions,
                "deletions": entry.deletions,
                **tests,
            }
        )
    return changes


def _changes_shipped_tests(change: str, tests: dict) -> bool:
    """Did the branch change a test it was given? A file not compared test by test counts as changed."""
    if change == "added":
        return False
    if change in ("deleted", "renamed") or "tests_changed" not in tests:
        return True
    return bool(tests["tests_changed"])


def _test_level(entry: FileDiff, change: str, read) -> dict:
    """The tests a test file's change adds, the shipped tests it extends (every original assertion
    kept: credited like added ones) and those it changes; {} if not comparable."""
    if read is None or not entry.path.endswith(".py") or change in ("deleted", "renamed"):
        return {}
    old = None if change == "added" else read("base", entry.path)
    new = read("head", entry.path)
    if new is None or (change != "added" and old is None):
        return {}
    comparison = compare_test_file(entry.path, old, new)
    if not comparison.parsed:
        return {}
    changed = [*comparison.changed, *comparison.changed_helpers, *comparison.deleted]
    changed += [f"{old_id} -> {new_id}" for old_id, new_id in comparison.renamed]
    return {
        "tests_added": list(comparison.added),
        "tests_extended": list(comparison.extended),
        "tests_changed": sorted(changed),
    }


def _file_reader(path, base: str, head: str):
    """read(side, name): the bytes of ``name`` at the starting point or the head, None if absent."""

    def read(side: str, name: str) -> bytes | None:
        commit = base if side == "base" else head
        result = gitplumbing.run("cat-file", "blob", f"{commit}:{name}", git_dir=path, check=False)
        return result.stdout if result.returncode == 0 else None

    return read


def evidence_update(*, invite: Invite, manifest: Manifest, path, base: str, heads: dict[str, str]) -> int:
    """Store the evidence of every head that has none yet; the number of rows added.

    A head equal to the starting point has nothing to show and is stored without asking git.
    """
    known = set(BranchEvidence.objects.filter(invite=invite, branch__in=list(heads)).values_list("branch", "head"))
    missing = {name: head for name, head in heads.items() if (name, head) not in known}
    if not missing:
        return 0
    folders = shipped_test_folders(manifest)
    listed = gitplumbing.run("ls-tree", "-r", "-z", "--name-only", base, "--", *folders, git_dir=path).stdout
    shipped = {name.decode(errors="replace") for name in listed.split(b"\0") if name}
    rows = []
    for name, head in missing.items():
        if head == base:
            commits, capped, diff = [], False, None
        else:
            commits, capped = commits_between(path, base, head, limit=COMMITS_MAX)
            diff = diff_between(
                path, base, head, max_bytes=DIFF_MAX_BYTES, max_lines=DIFF_MAX_LINES, max_files=DIFF_MAX_FILES
            )
        rows.append(
            BranchEvidence(
                invite=invite,
                branch=name,
                head=head,
                base=base,
                commits=[c.to_dict() for c in commits],
                commits_capped=capped,
                diff=diff.to_dict() if diff else {"files": [], "unlisted": 0, "capped": False},
                visible_test_changes=visible_test_changes(
                    files=diff.files, shipped=shipped, folders=folders, read=_file_reader(path, base, head)
                )
                if diff
                else [],
                computed_at=timezone.now(),
            )
        )
    # Another computation may have stored the same heads meanwhile: theirs are the same.
    BranchEvidence.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _force_pushes(invite: Invite, heads: dict[str, str]) -> dict[str, list[dict]]:
    """Per current branch, its force-pushes in the push log, oldest first: when, and old -> new."""
    refs = {f"refs/heads/{name}": name for name in heads}
    found: dict[str, list[dict]] = {}
    updates = (
        RefUpdate.objects.filter(push__invite=invite, kind=RefUpdate.Kind.FORCED, ref__in=list(refs))
        .select_related("push")
        .order_by("push__at", "id")
    )
    for update in updates:
        found.setdefault(refs[update.ref], []).append(
            {"at": update.push.at.isoformat(), "push": update.push_id, "old": update.old_sha, "new": update.new_sha}
        )
    return found
