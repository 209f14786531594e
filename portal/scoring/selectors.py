"""An invite's result: the ticket x branch matrix, verdicts, regressions, findings and the total."""

from __future__ import annotations

from dataclasses import dataclass, field

import git

from assessment_app.grader.manifest import Manifest, load_manifest
from portal.hosting.models import RefUpdate
from portal.hosting.services import repository_path
from portal.invites.models import Invite
from portal.scoring.hygiene import Finding, RefUpdateInfo, branch_ticket, hygiene_findings
from portal.scoring.models import Run
from portal.scoring.quality import QualitySignals, quality_signals
from portal.scoring.services import GRADER_VERSION, Integration, integration_build


@dataclass(frozen=True)
class Cell:
    """One ticket on one branch: did that branch's run pass the ticket's hidden tests?"""

    passed: bool | None  # None: not scored (yet), or the run was an error
    tests_passed: int = 0
    tests_total: int = 0


@dataclass(frozen=True)
class BranchResult:
    branch: str
    head: str
    run: Run | None
    cells: dict[int, Cell]
    regressions: tuple[str, ...]  # hidden tests that passed on the starting point and fail here
    other_tickets_changed: tuple[int, ...]


@dataclass(frozen=True)
class TicketResult:
    number: int
    title: str
    points: int
    branch: str | None  # the branch dedicated to the ticket
    passed: bool | None
    earned: int


@dataclass
class InviteResult:
    invite: Invite
    manifest: Manifest
    base: str
    baseline: Run | None
    branches: list[BranchResult]
    tickets: list[TicketResult]
    findings: list[Finding] = field(default_factory=list)
    quality: list[QualitySignals] = field(default_factory=list)
    integration: Integration | None = None
    integrated: BranchResult | None = None  # the run of all ticket branches merged together

    @property
    def total(self) -> int:
        return sum(t.earned for t in self.tickets)

    @property
    def possible(self) -> int:
        return sum(t.points for t in self.tickets)

    @property
    def pending(self) -> bool:
        runs = [b.run for b in self.branches] + [self.baseline]
        return any(run is None or not run.finished for run in runs)


def _latest_run(invite: Invite, commit: str) -> Run | None:
    runs = Run.objects.filter(invite=invite, commit=commit).prefetch_related("verdicts", "results")
    return runs.filter(grader_version=GRADER_VERSION).first() or runs.order_by("-queued_at").first()


def _cells(run: Run | None, manifest: Manifest) -> dict[int, Cell]:
    if run is None or run.status not in (Run.Status.PASSED, Run.Status.FAILED):
        return {t.number: Cell(passed=None) for t in manifest.tickets}
    verdicts = {v.ticket: v for v in run.verdicts.all()}
    return {
        t.number: Cell(verdicts[t.number].passed, verdicts[t.number].tests_passed, verdicts[t.number].tests_total)
        if t.number in verdicts
        else Cell(passed=None)
        for t in manifest.tickets
    }


def _passed_tests(run: Run | None) -> set[str]:
    if run is None:
        return set()
    return {r.test_id for r in run.results.all() if r.outcome == "passed"}


def invite_result(*, invite: Invite, with_quality: bool = True) -> InviteResult:
    manifest = load_manifest(invite.assessment_version.package_dir)
    repo_path = repository_path(invite)
    repo = git.Repo(repo_path)
    base = next(repo.iter_commits("refs/heads/main", max_parents=0)).hexsha
    heads = {head.name: head.commit.hexsha for head in repo.heads}
    baseline = _latest_run(invite, base)
    baseline_cells = _cells(baseline, manifest)
    baseline_passed = _passed_tests(baseline)

    branches = []
    for name in sorted(heads, key=lambda n: (n != "main", branch_ticket(n) or 0, n)):
        run = _latest_run(invite, heads[name])
        cells = _cells(run, manifest)
        own = branch_ticket(name)
        changed = tuple(
            number
            for number, cell in cells.items()
            if number != own and cell.passed is not None and cell.passed != baseline_cells[number].passed
        )
        regressions = tuple(sorted(baseline_passed - _passed_tests(run))) if run and run.finished else ()
        branches.append(BranchResult(name, heads[name], run, cells, regressions, changed))

    by_name = {b.branch: b for b in branches}
    tickets = []
    for ticket in manifest.tickets:
        branch = by_name.get(f"issue-{ticket.number}")
        passed = branch.cells[ticket.number].passed if branch else None
        tickets.append(
            TicketResult(
                number=ticket.number,
                title=ticket.title,
                points=ticket.points,
                branch=branch.branch if branch else None,
                passed=passed,
                earned=ticket.points if passed else 0,
            )
        )

    updates = [
        RefUpdateInfo(ref=u.ref, old_sha=u.old_sha, new_sha=u.new_sha, kind=u.kind, at=u.push.at)
        for u in RefUpdate.objects.filter(push__invite=invite).select_related("push").order_by("push__at", "id")
    ]
    visible_paths = sorted({node.split("::", 1)[0] for t in manifest.tickets for node in t.visible_tests})
    findings = hygiene_findings(
        repo_path=repo_path,
        base=base,
        branches=heads,
        tickets=[t.number for t in manifest.tickets],
        visible_test_paths=visible_paths,
        ref_updates=updates,
        scope_creep={b.branch: list(b.other_tickets_changed) for b in branches if b.other_tickets_changed},
    )
    integration = integration_build(invite=invite)
    integrated = None
    if integration.commit is not None:
        run = _latest_run(invite, integration.commit)
        integrated = BranchResult("integrated", integration.commit, run, _cells(run, manifest), (), ())
    findings += [
        Finding(
            kind="merge_conflict",
            severity="warning",
            message=f"{branch} does not merge cleanly with {', '.join(integration.merged) or 'the other branches'}",
            ref=f"refs/heads/{branch}",
            ticket=branch_ticket(branch),
            paths=tuple(p.strip() for p in files.split(",")),
        )
        for branch, files in integration.conflicts
    ]
    quality = []
    if with_quality:
        quality = [
            quality_signals(repo_path=repo_path, base=base, branch=b.branch, head=b.head)
            for b in branches
            if b.branch != "main" or b.head != base
        ]
    return InviteResult(
        invite=invite,
        manifest=manifest,
        base=base,
        baseline=baseline,
        branches=branches,
        tickets=tickets,
        findings=findings,
        quality=quality,
        integration=integration,
        integrated=integrated,
    )


@dataclass(frozen=True)
class RunStatus:
    ref: str
    commit: str
    status: str
    queued_at: object
    reason: str = ""


def runs_pending(statuses: list[RunStatus]) -> bool:
    return any(s.status in (Run.Status.QUEUED, Run.Status.RUNNING) for s in statuses)


def invite_run_statuses(*, invite: Invite, limit: int = 20) -> list[RunStatus]:
    """The latest runs of an invite, newest first: what was pushed and whether it is scored yet.

    Only the state of each run, not its results: candidates see that their push is being
    scored, never the hidden tests' outcomes.
    """
    runs = Run.objects.filter(invite=invite).order_by("-queued_at", "-id")[:limit]
    return [
        RunStatus(
            ref=r.ref.removeprefix("refs/heads/"),
            commit=r.commit,
            status=r.status,
            queued_at=r.queued_at,
            reason=r.reason,
        )
        for r in runs
    ]
