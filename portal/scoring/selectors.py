"""Reading an invite's result: rows only, never git, never a subprocess, never a write.

The analysis (portal.scoring.analysis) is computed by a worker and stored; here it is turned back
into dataclasses for pages, `report` and the API. The number of queries does not depend on how
many branches or runs the invite has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from portal.invites.models import Invite
from portal.scoring.analysis import Integration
from portal.scoring.hygiene import Finding
from portal.scoring.models import InviteAnalysis, Run, TicketVerdict
from portal.scoring.quality import LintFinding, QualitySignals

# More columns than this make the matrix unreadable; `report --json` has every analysed branch.
MATRIX_COLUMNS = 20


@dataclass(frozen=True)
class RunSummary:
    id: int
    status: str
    reason: str
    grader: str


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
    run: RunSummary | None
    cells: dict[int, Cell]
    regressions: tuple[str, ...] = ()  # hidden tests that passed on the starting point and fail here
    other_tickets_changed: tuple[int, ...] = ()


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
    title: str
    base: str | None
    baseline: RunSummary | None
    branches: list[BranchResult]
    tickets: list[TicketResult]
    findings: list[Finding] = field(default_factory=list)
    quality: list[QualitySignals] = field(default_factory=list)
    integration: Integration | None = None
    integrated: BranchResult | None = None  # the run of all ticket branches merged together
    branches_left_out: int = 0
    analysed_at: datetime | None = None
    analysis_pending: bool = False  # a newer analysis is asked for and not stored yet
    analysis_error: str = ""
    runs_pending: bool = False  # runs of this invite are queued or running

    @property
    def total(self) -> int:
        return sum(t.earned for t in self.tickets)

    @property
    def possible(self) -> int:
        return sum(t.points for t in self.tickets)

    @property
    def pending(self) -> bool:
        return self.analysis_pending or self.runs_pending

    @property
    def analysed(self) -> bool:
        return self.analysed_at is not None

    @property
    def shown_branches(self) -> list[BranchResult]:
        """The matrix's columns: main and the ticket branches first (the analysis's order), capped."""
        return self.branches[:MATRIX_COLUMNS]

    @property
    def branches_not_shown(self) -> int:
        return len(self.branches) - len(self.shown_branches) + self.branches_left_out

    @property
    def rows(self) -> list[MatrixRow]:
        """The matrix by ticket: each shown branch's cell in branch order, and the integrated run's."""
        missing = Cell(passed=None)
        return [
            MatrixRow(
                ticket=ticket,
                cells=[branch.cells.get(ticket.number, missing) for branch in self.shown_branches],
                integrated=self.integrated.cells.get(ticket.number, missing) if self.integrated else None,
            )
            for ticket in self.tickets
        ]


@dataclass(frozen=True)
class MatrixRow:
    ticket: TicketResult
    cells: list[Cell]
    integrated: Cell | None


def invite_result(*, invite: Invite) -> InviteResult:
    """The invite's stored result; before its first analysis, the tickets with nothing earned."""
    analysis = InviteAnalysis.objects.filter(invite=invite).first()
    data = analysis.result if analysis is not None and analysis.computed_at is not None else {}
    runs_pending = Run.objects.filter(invite=invite, status__in=(Run.Status.QUEUED, Run.Status.RUNNING)).exists()
    version = invite.assessment_version
    tickets = [TicketResult(**t) for t in data.get("tickets", [])] or [
        TicketResult(number=t["number"], title=t["title"], points=t["points"], branch=None, passed=None, earned=0)
        for t in version.manifest.get("tickets", [])
    ]
    integration = data.get("integration")
    return InviteResult(
        invite=invite,
        title=version.manifest.get("title", ""),
        base=data.get("base"),
        baseline=_run(data.get("baseline")),
        branches=[_branch(b) for b in data.get("branches", [])],
        tickets=tickets,
        findings=[_finding(f) for f in data.get("findings", [])],
        quality=[_quality(q) for q in data.get("quality", [])],
        integration=Integration(
            commit=integration["commit"],
            merged=tuple(integration["merged"]),
            conflicts=tuple(tuple(c) for c in integration["conflicts"]),
        )
        if integration
        else None,
        integrated=_branch({"branch": "integrated", **data["integrated"]}) if data.get("integrated") else None,
        branches_left_out=data.get("branches_left_out", 0),
        analysed_at=analysis.computed_at if analysis is not None else None,
        analysis_pending=analysis is not None and analysis.pending,
        analysis_error=analysis.error if analysis is not None else "",
        runs_pending=runs_pending,
    )


def _run(data: dict | None) -> RunSummary | None:
    return RunSummary(**data) if data else None


def _branch(data: dict) -> BranchResult:
    return BranchResult(
        branch=data["branch"],
        head=data["head"],
        run=_run(data.get("run")),
        # JSON object keys are strings: tickets are numbers.
        cells={int(number): Cell(**cell) for number, cell in data["cells"].items()},
        regressions=tuple(data.get("regressions", ())),
        other_tickets_changed=tuple(data.get("other_tickets_changed", ())),
    )


def _finding(data: dict) -> Finding:
    return Finding(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


def _quality(data: dict) -> QualitySignals:
    fields = {key: value for key, value in data.items() if key != "head"}
    fields["files"] = tuple(fields.get("files", ()))
    fields["notes"] = tuple(fields.get("notes", ()))
    fields["new_lint"] = tuple(LintFinding(**lint) for lint in fields.get("new_lint", ()))
    return QualitySignals(**fields)


@dataclass(frozen=True)
class RunStatus:
    ref: str
    commit: str
    status: str
    queued_at: object
    reason: str = ""
    # Filled only when asked for (see invite_run_statuses): the candidate's own tests, and the
    # hidden tests' verdict per ticket as (ticket, passed) pairs.
    visible_passed: int | None = None
    visible_total: int | None = None
    visible_failed: tuple[str, ...] = ()
    tickets: tuple[tuple[int, bool], ...] = ()

    @property
    def finished(self) -> bool:
        return self.status not in (Run.Status.QUEUED, Run.Status.RUNNING)


def runs_pending(statuses: list[RunStatus]) -> bool:
    return any(s.status in (Run.Status.QUEUED, Run.Status.RUNNING) for s in statuses)


def invite_run_statuses(
    *, invite: Invite, limit: int = 20, visible: bool = False, tickets: bool = False
) -> list[RunStatus]:
    """The latest runs of an invite, newest first: what was pushed and whether it is scored yet.

    By default only the state of each run. ``visible`` adds how the candidate's own tests did;
    ``tickets`` adds, per ticket, whether its hidden tests passed (one more query). Never the
    hidden tests' names, messages or output: what a candidate may see is the assessment's
    choice (Assessment.candidate_results), made by the caller.
    """
    # The integrated run is the portal's own merge, not something the candidate pushed.
    runs = Run.objects.filter(invite=invite).exclude(ref__startswith="refs/portal/").order_by("-queued_at", "-id")
    runs = list(runs[:limit])
    verdicts: dict[int, list[tuple[int, bool]]] = {}
    if tickets and runs:
        for run_id, ticket, passed in (
            TicketVerdict.objects.filter(run__in=[r.pk for r in runs])
            .order_by("ticket")
            .values_list("run_id", "ticket", "passed")
        ):
            verdicts.setdefault(run_id, []).append((ticket, passed))
    statuses = []
    for r in runs:
        shown = {}
        if visible and r.visible:
            shown = {
                "visible_passed": r.visible.get("passed"),
                "visible_total": r.visible.get("total"),
                "visible_failed": tuple(r.visible.get("failed", ())),
            }
        statuses.append(
            RunStatus(
                ref=r.ref.removeprefix("refs/heads/"),
                commit=r.commit,
                status=r.status,
                queued_at=r.queued_at,
                reason=r.reason,
                tickets=tuple(verdicts.get(r.pk, ())),
                **shown,
            )
        )
    return statuses
