"""Reading an invite's result: rows only, never git, never a subprocess, never a write.

The analysis (portal.scoring.analysis) is computed by a worker and stored; here it is turned back
into dataclasses for pages, `report` and the API. The number of queries does not depend on how
many branches or runs the invite has.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db.models import F, Q, Sum

from gitplumbing import ZERO_SHA
from gitplumbing.diffs import Commit, Diff
from portal.hosting.models import PullRequest, Push, RefUpdate
from portal.invites.models import Invite
from portal.scoring.analysis import (
    CONFIRMED,
    MAX_BRANCHES,
    VISIBLE_HIDDEN_DISAGREE,
    Integration,
    branch_order,
    ticket_contested_points,
    ticket_earned,
    verdict_earned,
)
from portal.scoring.highlight import HighlightedFile, highlight_diff
from portal.scoring.hygiene import Finding, branch_ticket
from portal.scoring.models import (
    VISIBLE_PENDING,
    BranchEvidence,
    InviteAnalysis,
    Run,
    TestResult,
    TicketVerdict,
    visible_state,
)
from portal.scoring.quality import LintFinding, QualitySignals
from portal.scoring.version import GRADER_VERSION

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

    passed: bool | None  # None: not scored yet
    tests_passed: int = 0
    tests_total: int = 0
    error: str = ""  # the run was an error: the ticket fails, and this says why
    earned: int = 0  # the ticket's points this run earns: all when passed, else its partial credit


@dataclass(frozen=True)
class BranchResult:
    branch: str
    head: str
    run: RunSummary | None
    cells: dict[int, Cell]
    regressions: tuple[str, ...] = ()  # hidden tests that passed on the starting point and fail here
    other_tickets_changed: tuple[int, ...] = ()


@dataclass(frozen=True)
class ContestTest:
    __test__ = False  # a dataclass, not a pytest test class

    name: str  # a hidden test's function name, or a visible test's id
    outcome: str  # "passed", "failed", "error", "skipped"; "missing" for a visible test the branch no longer has


@dataclass(frozen=True)
class ContestDecisionView:
    decision: str  # "confirmed" or "overturned"
    by: str
    at: datetime
    note: str = ""

    @property
    def confirmed(self) -> bool:
        return self.decision == CONFIRMED


@dataclass(frozen=True)
class Contest:
    """Why a ticket's points wait for a reviewer: the hidden tests pass it on its branch while the
    candidate's own visible tests for it fail on the same commit; the evidence of both, side by side."""

    branch: str
    head: str
    run: int | None
    hidden: tuple[ContestTest, ...]
    visible: tuple[ContestTest, ...]
    decision: ContestDecisionView | None = None

    @property
    def decided(self) -> bool:
        return self.decision is not None


@dataclass(frozen=True)
class TicketResult:
    number: int
    title: str
    points: int
    branch: str | None  # the branch dedicated to the ticket
    passed: bool | None
    earned: int  # the points counted: a contested ticket counts only once confirmed
    contested: Contest | None = None

    @property
    def waiting(self) -> bool:
        """Contested and not decided yet: its points are not counted until a reviewer decides."""
        return self.contested is not None and not self.contested.decided


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
    def contested_tickets(self) -> list[TicketResult]:
        """Tickets whose hidden and visible tests disagree on their own branch, decided or not."""
        return [t for t in self.tickets if t.contested is not None]

    @property
    def contested_points(self) -> int:
        """Points waiting for a reviewer's decision: not in ``total``."""
        return sum(t.points for t in self.tickets if t.waiting)

    @property
    def pending(self) -> bool:
        return self.analysis_pending or self.runs_pending

    @property
    def analysed(self) -> bool:
        return self.analysed_at is not None

    @property
    def hygiene_findings(self) -> list[Finding]:
        """The findings about how the candidate worked in git (every finding but the disagreements)."""
        return [finding for finding in self.findings if finding.kind != VISIBLE_HIDDEN_DISAGREE]

    @property
    def disagreements(self) -> list[Finding]:
        """Tickets whose hidden verdict and the candidate's own visible tests disagree on a branch head."""
        return [finding for finding in self.findings if finding.kind == VISIBLE_HIDDEN_DISAGREE]

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


def tickets_score(tickets) -> tuple[int | None, int | None]:
    """(points earned, points possible) from a stored analysis' ticket list (its ``tickets``, each with
    ``points``, ``passed`` and ``contested``); (None, None) before the first analysis. A contested
    ticket counts only once a reviewer confirmed it (analysis.ticket_earned). InviteResult.total and
    .possible count the same way, so a list and a report never disagree."""
    tickets = [t for t in tickets if isinstance(t, dict)] if isinstance(tickets, list) else []
    if not tickets:
        return None, None
    return sum(ticket_earned(t) for t in tickets), sum(t.get("points", 0) for t in tickets)


def tickets_contested(tickets) -> int:
    """The points of a stored ticket list that wait for a reviewer's decision on a contested ticket."""
    if not isinstance(tickets, list):
        return 0
    return sum(ticket_contested_points(t) for t in tickets)


def ticket_state(ticket) -> str:
    """A stored ticket entry in one word, for exports: "pass", "fail", "contested" (waiting for a
    reviewer), "overturned" (a reviewer said the hidden tests were fooled), or "" (not scored)."""
    if not isinstance(ticket, dict):
        return ""
    contested = ticket.get("contested")
    if ticket.get("passed") and isinstance(contested, dict):
        decision = (contested.get("decision") or {}).get("decision")
        return "pass" if decision == CONFIRMED else "overturned" if decision else "contested"
    passed = ticket.get("passed")
    return "pass" if passed is True else "fail" if passed is False else ""


def _ticket(data: dict) -> TicketResult:
    """A stored ticket entry as a TicketResult; its earned points by the one rule (ticket_earned)."""
    fields = {key: data[key] for key in ("number", "title", "points", "branch", "passed") if key in data}
    contested = data.get("contested") if data.get("passed") else None
    return TicketResult(**fields, earned=ticket_earned(data), contested=_contest(contested) if contested else None)


def _contest(data: dict) -> Contest:
    decision = data.get("decision")
    return Contest(
        branch=data.get("branch", ""),
        head=data.get("head", ""),
        run=data.get("run"),
        hidden=tuple(ContestTest(name=t["name"], outcome=t["outcome"]) for t in data.get("hidden", ())),
        visible=tuple(ContestTest(name=t["id"], outcome=t["outcome"]) for t in data.get("visible", ())),
        decision=ContestDecisionView(
            decision=decision["decision"],
            by=decision.get("by", ""),
            at=datetime.fromisoformat(decision["at"]),
            note=decision.get("note", ""),
        )
        if decision
        else None,
    )


def invite_result(*, invite: Invite) -> InviteResult:
    """The invite's stored result; before its first analysis, the tickets with nothing earned."""
    analysis = InviteAnalysis.objects.filter(invite=invite).first()
    data = analysis.result if analysis is not None and analysis.computed_at is not None else {}
    runs_pending = Run.objects.filter(invite=invite).filter(RUNS_SCORING).exists()
    version = invite.assessment_version
    tickets = [_ticket(t) for t in data.get("tickets", [])] or [
        TicketResult(number=t["number"], title=t["title"], points=t["points"], branch=None, passed=None, earned=0)
        for t in version.manifest.get("tickets", [])
    ]
    branches = [_branch(b) for b in data.get("branches", [])]
    tickets = _errors_fail(tickets, branches)
    integration = data.get("integration")
    return InviteResult(
        invite=invite,
        title=version.manifest.get("title", ""),
        base=data.get("base"),
        baseline=_run(data.get("baseline")),
        branches=branches,
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


def _errors_fail(tickets: list[TicketResult], branches: list[BranchResult]) -> list[TicketResult]:
    """A ticket whose branch's run was an error is not fixed (it is not pending: nothing will change it)."""
    errored = {b.branch for b in branches if b.run is not None and b.run.status == Run.Status.ERROR}
    return [
        replace(ticket, passed=False) if ticket.passed is None and ticket.branch in errored else ticket
        for ticket in tickets
    ]


def _branch(data: dict) -> BranchResult:
    run = _run(data.get("run"))
    # JSON object keys are strings: tickets are numbers.
    cells = {int(number): Cell(**cell) for number, cell in data["cells"].items()}
    if run is not None and run.status == Run.Status.ERROR:
        # No hidden test passed on an errored run: each ticket fails, for the run's reason.
        error = first_line(run.reason, cap=160) or "the run ended in an error"
        cells = {number: Cell(passed=False, error=error) for number in cells}
    return BranchResult(
        branch=data["branch"],
        head=data["head"],
        run=run,
        cells=cells,
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


# --- One truth for what a run says ---------------------------------------------------

INTEGRATED_LABEL = "integrated"  # what RunStatus.ref holds for the portal's refs
INTEGRATED_WORDS = "all branches together"


@dataclass(frozen=True)
class RunLabel:
    """A run in words, and its tone for colour ("pass", "fail", "partial", "pending", "error", "")."""

    text: str
    tone: str

    def __str__(self) -> str:
        return self.text


def ticket_list(numbers: list[int]) -> str:
    """[1] -> "#1"; [1, 3] -> "#1 and #3"; [1, 2, 3] -> "#1, #2 and #3"."""
    names = [f"#{n}" for n in numbers]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def ref_label(ref: str) -> str:
    """What a page calls a run's ref: the branch name; the portal's own refs as what they are."""
    if ref == INTEGRATED_LABEL or ref.startswith("refs/portal/"):
        return INTEGRATED_WORDS
    return ref.removeprefix("refs/heads/")


def run_summary(*, branch: str, status: str, verdicts, reason: str = "", waiting: bool = False) -> RunLabel:
    """What one run says, per ticket: every page that labels a run (runs tables, timelines, reports)
    says it with this.

    ``verdicts`` are the run's (ticket, passed) pairs, or (ticket, passed, earned) triples. A ticket
    branch (issue-<n>) speaks of its own ticket first: "fixes #1", or "#1 still fails"; any other ref
    (main, all branches together) lists what it fixes and what still fails. A ticket still failing
    that earns part of its points (tests with points: grader.verdicts) says how many: "#2 still
    fails (6 points from the tests it passes)". Without verdicts a scored run is just "scored".
    """
    if status == Run.Status.QUEUED:
        return RunLabel("waiting for the earlier runs of this invite" if waiting else "queued", "pending")
    if status == Run.Status.RUNNING:
        return RunLabel("running", "pending")
    if status == Run.Status.SUPERSEDED:
        return RunLabel("superseded: a newer push replaced it before it ran", "")
    if status not in (Run.Status.PASSED, Run.Status.FAILED):
        return RunLabel(f"error: {first_line(reason, cap=160) or 'the run could not complete'}", "error")
    results = {verdict[0]: bool(verdict[1]) for verdict in sorted(verdicts)}
    if not results:
        return RunLabel("scored", "")
    partly = {v[0]: v[2] for v in verdicts if len(v) > 2 and not v[1] and v[2]}
    fixed = [n for n, passed in results.items() if passed]
    failing = [n for n, passed in results.items() if not passed]
    own = branch_ticket(ref_label(branch))
    if own in results:
        others = [n for n in fixed if n != own]
        also = f" (also fixes {ticket_list(others)})" if others else ""
        if results[own]:
            return RunLabel(f"fixes #{own}{also}", "pass")
        return RunLabel(f"#{own} still fails{_partly([own], partly)}{also}", "fail")
    if not failing:
        return RunLabel("fixes every ticket", "pass")
    verb = "fails" if len(failing) == 1 else "fail"
    if not fixed:
        return RunLabel(f"fixes no ticket yet{_partly(failing, partly)}", "fail")
    return RunLabel(
        f"fixes {ticket_list(fixed)}; {ticket_list(failing)} still {verb}{_partly(failing, partly)}", "partial"
    )


def _partly(tickets: list[int], earned: dict[int, int]) -> str:
    """ " (6 points from the tests it passes)", or per ticket, for the failing tickets that earn some points."""
    some = [(n, earned[n]) for n in tickets if earned.get(n)]
    if not some:
        return ""
    if len(tickets) == 1:
        return f" ({some[0][1]} {_points(some[0][1])} from the tests it passes)"
    return " (" + ", ".join(f"#{n} earns {p} {_points(p)}" for n, p in some) + " from the tests it passes)"


def _points(count: int) -> str:
    return "point" if count == 1 else "points"


def run_summaries(*, runs) -> dict[int, RunLabel]:
    """Run id -> run_summary for the given Run rows, in one query for all their verdicts."""
    runs = list(runs)
    verdicts: dict[int, list[tuple[int, bool]]] = {}
    for run_id, ticket, passed, earned in TicketVerdict.objects.filter(run__in=[r.pk for r in runs]).values_list(
        "run_id", "ticket", "passed", "earned"
    ):
        verdicts.setdefault(run_id, []).append((ticket, passed, earned))
    return {
        r.pk: run_summary(branch=r.ref, status=r.status, verdicts=verdicts.get(r.pk, ()), reason=r.reason) for r in runs
    }


@dataclass(frozen=True)
class RunStatus:
    ref: str  # a branch name, or "integrated" for the portal's merge of the ticket branches
    commit: str
    status: str
    queued_at: object
    reason: str = ""
    waiting: bool = False  # queued, but not handed to the workers yet: the invite's earlier runs go first
    # Filled only when asked for (see invite_run_statuses): the candidate's own tests, the hidden
    # tests' verdict per ticket as (ticket, passed) pairs, and how many hidden tests passed.
    visible_passed: int | None = None
    visible_total: int | None = None
    visible_failed: tuple[str, ...] = ()
    # Whether the candidate's own tests ran (portal.scoring.services.visible_state): "" (never), "pending"
    # (the verdict is in, they run now), "done" or "failed" (they could not be run). Always filled.
    visible_state: str = ""
    tickets: tuple[tuple[int, bool, int | None], ...] = ()  # (ticket, passed, earned)
    hidden_passed: int | None = None
    hidden_total: int | None = None
    # For staff: which worker scored it (node name), how many times it was handed over, how long it took.
    worker: str = ""
    attempt: int = 0
    seconds: float | None = None

    @property
    def finished(self) -> bool:
        return self.status not in Run.ACTIVE

    @property
    def reason_line(self) -> str:
        return first_line(self.reason, cap=160)

    @property
    def summary(self) -> RunLabel:
        """The run in words, per ticket once scored (run_summary): "fixes #1", "#1 and #3 still fail"."""
        return run_summary(
            branch=self.ref, status=self.status, verdicts=self.tickets, reason=self.reason, waiting=self.waiting
        )

    @property
    def label(self) -> str:
        return self.summary.text

    @property
    def ref_label(self) -> str:
        """The branch, or "all branches together" for the portal's merge of the ticket branches."""
        return ref_label(self.ref)


# Runs still being scored: queued or running, or finished with their visible tests still to run (the
# analysis reads them: a contested ticket waits for them). The invite's pages and the pipeline's
# stage (portal.pipeline.selectors) both count these.
RUNS_SCORING = Q(status__in=Run.ACTIVE) | Q(visible__state=VISIBLE_PENDING)


def runs_pending(statuses: list[RunStatus]) -> bool:
    return any(s.status in Run.ACTIVE or s.visible_state == VISIBLE_PENDING for s in statuses)


def invite_pending(*, invite: Invite) -> bool:
    """Whether the invite's result may still change by itself: a run it depends on (a branch head,
    the starting point, the integration) is queued or running or has its visible tests still to run,
    or a newer analysis is on its way."""
    analysis_pending = InviteAnalysis.objects.filter(invite=invite, computed__lt=F("requested")).exists()
    return analysis_pending or Run.objects.filter(invite=invite).filter(RUNS_SCORING).exists()


def invite_run_statuses(
    *,
    invite: Invite,
    limit: int = 20,
    visible: bool = False,
    tickets: bool = False,
    hidden: bool = False,
    internal: bool = False,
) -> list[RunStatus]:
    """The latest runs of an invite, newest first: what was pushed and whether it is scored yet.

    By default only the state of each run, for what the candidate pushed. ``visible`` adds how the
    candidate's own tests did; ``tickets`` adds, per ticket, whether its hidden tests passed, and
    ``hidden`` how many hidden tests passed (one more query each). ``internal`` adds the runs of the
    portal's own integration commits (for reviewers: the candidate never pushed them). Never the
    hidden tests' names, messages or output: what a candidate may see is the assessment's choice
    (Assessment.candidate_results), made by the caller.
    """
    runs = Run.objects.filter(invite=invite)
    if not internal:
        runs = runs.exclude(ref__startswith="refs/portal/")
    runs = list(runs.order_by("-queued_at", "-id")[:limit])
    verdicts: dict[int, list[tuple[int, bool]]] = {}
    if tickets and runs:
        for run_id, ticket, passed, earned in (
            TicketVerdict.objects.filter(run__in=[r.pk for r in runs])
            .order_by("ticket")
            .values_list("run_id", "ticket", "passed", "earned")
        ):
            verdicts.setdefault(run_id, []).append((ticket, passed, earned))
    counts: dict[int, tuple[int, int]] = {}
    if hidden and runs:
        counts = {
            row["run_id"]: (row["passed"], row["total"])
            for row in TicketVerdict.objects.filter(run__in=[r.pk for r in runs])
            .values("run_id")
            .annotate(passed=Sum("tests_passed"), total=Sum("tests_total"))
        }
    statuses = []
    for r in runs:
        shown = {}
        if visible and r.visible:
            shown = {
                "visible_passed": r.visible.get("passed"),
                "visible_total": r.visible.get("total"),
                "visible_failed": tuple(r.visible.get("failed", ())),
            }
        if hidden and r.status in (Run.Status.PASSED, Run.Status.FAILED):
            shown["hidden_passed"], shown["hidden_total"] = counts.get(r.pk, (0, 0))
        statuses.append(
            RunStatus(
                ref=INTEGRATED_LABEL if r.ref.startswith("refs/portal/") else r.ref.removeprefix("refs/heads/"),
                commit=r.commit,
                status=r.status,
                queued_at=r.queued_at,
                reason=r.reason,
                waiting=r.status == Run.Status.QUEUED and r.dispatched_at is None,
                tickets=tuple(verdicts.get(r.pk, ())),
                worker=r.worker,
                attempt=r.attempt,
                seconds=(r.timings or {}).get("total"),
                visible_state=visible_state(r.visible),
                **shown,
            )
        )
    return statuses


# The evidence behind the result: what each branch changed, why tickets fail, how pushes went.
# Read from rows the analysis worker stored (BranchEvidence, TestResult, Push): never git.

FAILING_TESTS_SHOWN = 50
MESSAGE_SHOWN = 300
PUSHES_SHOWN = 200


@dataclass(frozen=True)
class ForcePush:
    at: datetime
    push_id: int | None
    old: str
    new: str


@dataclass(frozen=True)
class TestFileChange:
    __test__ = False  # a dataclass, not a pytest test class

    path: str
    old_path: str | None
    change: str  # "modified", "deleted", "renamed" (shipped test files) or "added"
    shipped: bool  # a shipped visible test file: the branch changed a test it was given
    additions: int | None
    deletions: int | None
    tests_added: list[str] | None = None  # test ids; None when the file was not compared test by test
    tests_changed: list[str] | None = None  # shipped test and fixture ids changed, deleted or renamed
    tests_extended: list[str] | None = None  # shipped tests that keep every original assertion and add more


@dataclass
class BranchEvidenceView:
    """One current branch's commits, changes since the starting point and force-pushes."""

    branch: str
    head: str
    commits: list[Commit]
    commits_capped: bool
    diff: Diff | None  # None: not read yet (the analysis has not reached this head)
    test_changes: list[TestFileChange]
    force_pushes: list[ForcePush]

    @property
    def test_changes_by_path(self) -> dict[str, TestFileChange]:
        return {change.path: change for change in self.test_changes}

    @property
    def files(self) -> list[HighlightedFile]:
        """The diff's files with their lines highlighted, each flagged if it touches tests."""
        if self.diff is None:
            return []
        return highlight_diff(self.diff, head=self.head, flags=self.test_changes_by_path)


def _stored_result(invite: Invite) -> dict:
    analysis = InviteAnalysis.objects.filter(invite=invite, computed_at__isnull=False).only("result").first()
    return analysis.result if analysis is not None else {}


def invite_evidence(*, invite: Invite) -> list[BranchEvidenceView]:
    """Per branch of the stored analysis, in its order (main, issue-1..., then others): two queries."""
    data = _stored_result(invite)
    heads = {b["branch"]: b["head"] for b in data.get("branches", [])}
    if not heads:
        return []
    rows = {
        (row.branch, row.head): row
        for row in BranchEvidence.objects.filter(invite=invite, head__in=set(heads.values()), branch__in=list(heads))
    }
    forced = data.get("force_pushes", {})
    views = []
    for name, head in heads.items():
        row = rows.get((name, head))
        views.append(
            BranchEvidenceView(
                branch=name,
                head=head,
                commits=[Commit.from_dict(c) for c in row.commits] if row else [],
                commits_capped=row.commits_capped if row else False,
                diff=Diff.from_dict(row.diff) if row else None,
                test_changes=[TestFileChange(**c) for c in row.visible_test_changes] if row else [],
                force_pushes=[
                    ForcePush(at=datetime.fromisoformat(f["at"]), push_id=f.get("push"), old=f["old"], new=f["new"])
                    for f in forced.get(name, [])
                ],
            )
        )
    return views


@dataclass(frozen=True)
class FailingTest:
    name: str  # the test function's name (with its parameters), never its file or source
    outcome: str  # "failed" or "error"
    message: str  # the first line of the failure message, capped


@dataclass(frozen=True)
class TicketFailures:
    number: int
    title: str
    branch: str
    run_id: int | None  # None: the branch's head is not scored yet
    tests: list[FailingTest]
    more: int = 0  # failing tests beyond FAILING_TESTS_SHOWN
    error: str = ""  # the run ended in an error (the app never started...): why, on one line


def hidden_test_name(test_id: str) -> str:
    """``hidden/test_ticket_2.py::TestBooks::test_reading[1]`` -> ``test_reading[1]``."""
    return test_id.rsplit("::", 1)[-1]


def first_line(message: str, cap: int = MESSAGE_SHOWN) -> str:
    line = next((part.strip() for part in message.splitlines() if part.strip()), "")
    return line if len(line) <= cap else line[: cap - 1] + "…"


def failing_hidden_tests(*, invite: Invite) -> list[TicketFailures]:
    """Per ticket whose branch does not fix it, why: the hidden tests its branch's run failed (the
    matrix's run), or the run's error when the app never got as far as the tests.

    Tickets the matrix shows fixed are left out, and so are tickets without a branch. Names and
    one-line messages only: what a reviewer needs to see why, not the tests themselves.
    """
    data = _stored_result(invite)
    runs = {b["branch"]: b.get("run") or {} for b in data.get("branches", [])}
    # A run still queued or running has nothing to say yet.
    runs = {name: run if run.get("status") not in Run.ACTIVE else {} for name, run in runs.items()}
    tickets = [t for t in data.get("tickets", []) if t.get("branch") and not t.get("passed")]
    errored = {
        name: first_line(run.get("reason", ""), cap=160) or "the run could not complete"
        for name, run in runs.items()
        if run.get("status") == Run.Status.ERROR
    }
    wanted = {
        (runs[t["branch"]]["id"], t["number"])
        for t in tickets
        if runs.get(t["branch"], {}).get("id") and t["branch"] not in errored
    }
    found: dict[tuple[int, int], list[FailingTest]] = {}
    if wanted:
        results = (
            TestResult.objects.filter(
                run_id__in={run for run, _ in wanted},
                outcome__in=("failed", "error"),
                ticket__isnull=False,
                guard=False,  # a guard counts for no ticket: failing_guards lists it
            )
            .order_by("ticket", "test_id")
            .values_list("run_id", "ticket", "test_id", "outcome", "message")
        )
        for run_id, ticket, test_id, outcome, message in results:
            if (run_id, ticket) in wanted:
                found.setdefault((run_id, ticket), []).append(
                    FailingTest(name=hidden_test_name(test_id), outcome=outcome, message=first_line(message))
                )
    failures = []
    for ticket in tickets:
        run_id = runs.get(ticket["branch"], {}).get("id")
        tests = found.get((run_id, ticket["number"]), [])
        failures.append(
            TicketFailures(
                number=ticket["number"],
                title=ticket["title"],
                branch=ticket["branch"],
                run_id=run_id,
                tests=tests[:FAILING_TESTS_SHOWN],
                more=max(0, len(tests) - FAILING_TESTS_SHOWN),
                error=errored.get(ticket["branch"], ""),
            )
        )
    return failures


@dataclass(frozen=True)
class GuardFailures:
    """The regression guards a branch head's run failed: what worked as shipped and no longer does."""

    branch: str
    run_id: int
    tests: list[FailingTest]


def failing_guards(*, invite: Invite) -> list[GuardFailures]:
    """Per branch of the stored result whose run failed regression guards (hidden tests marked guard),
    those guards by name, in branch order, then the portal's merge of the branches ("all branches
    together"): fixes that each keep the guards may break one together. Guards count for no
    ticket, so they are listed apart."""
    stored = _stored_result(invite)
    integrated = stored.get("integrated") or {}
    scored = [
        *stored.get("branches", []),
        *([{**integrated, "branch": INTEGRATED_WORDS}] if integrated else []),
    ]
    runs = {
        b["branch"]: (b.get("run") or {}).get("id")
        for b in scored
        if (b.get("run") or {}).get("status") in (Run.Status.PASSED, Run.Status.FAILED)
    }
    found: dict[int, list[FailingTest]] = {}
    results = (
        TestResult.objects.filter(run_id__in=set(runs.values()) - {None}, guard=True, outcome__in=("failed", "error"))
        .order_by("test_id")
        .values_list("run_id", "test_id", "outcome", "message")
    )
    for run_id, test_id, outcome, message in results:
        found.setdefault(run_id, []).append(
            FailingTest(name=hidden_test_name(test_id), outcome=outcome, message=first_line(message))
        )
    return [
        GuardFailures(branch=name, run_id=run_id, tests=found[run_id][:FAILING_TESTS_SHOWN])
        for name, run_id in runs.items()
        if run_id in found
    ]


@dataclass(frozen=True)
class TimelineRef:
    branch: str
    kind: str  # RefUpdate.Kind
    old: str
    new: str
    run_status: str | None  # the run of the new head; None if there is none
    tickets_passed: int | None  # None: not scored (yet), or deleted
    tickets_total: int
    summary: RunLabel | None = None  # the new head's run in words (run_summary); None without a run


@dataclass(frozen=True)
class TimelinePush:
    id: int
    at: datetime
    refs: list[TimelineRef]

    @property
    def tickets_passed(self) -> int | None:
        """The best of its new heads: how far this push got."""
        passed = [ref.tickets_passed for ref in self.refs if ref.tickets_passed is not None]
        return max(passed) if passed else None


def push_timeline(*, invite: Invite, limit: int = PUSHES_SHOWN) -> list[TimelinePush]:
    """The invite's latest pushes, oldest first, with the ticket results of their new heads' runs."""
    pushes = list(Push.objects.filter(invite=invite).prefetch_related("ref_updates").order_by("-at", "-id")[:limit])[
        ::-1
    ]
    commits = {u.new_sha for p in pushes for u in p.ref_updates.all() if u.new_sha != ZERO_SHA}
    runs: dict[str, Run] = {}
    for run in (
        Run.objects.filter(invite=invite, commit__in=commits).prefetch_related("verdicts").order_by("queued_at", "id")
    ):
        current = runs.get(run.commit)
        if current is None or current.grader_version != GRADER_VERSION:
            runs[run.commit] = run
    tickets = len(invite.assessment_version.manifest.get("tickets", []))
    timeline = []
    for push in pushes:
        refs = []
        for update in sorted(push.ref_updates.all(), key=lambda u: u.pk):
            # Only the candidate's branches: the portal's own refs (refs/portal/*) are not their pushes.
            if not update.ref.startswith("refs/heads/"):
                continue
            run = runs.get(update.new_sha) if update.new_sha != ZERO_SHA else None
            scored = run is not None and run.status in (Run.Status.PASSED, Run.Status.FAILED)
            branch = update.ref.removeprefix("refs/heads/")
            verdicts = [(v.ticket, v.passed, v.earned) for v in run.verdicts.all()] if run else []
            refs.append(
                TimelineRef(
                    branch=branch,
                    kind=update.kind,
                    old=update.old_sha,
                    new=update.new_sha,
                    run_status=run.status if run else None,
                    tickets_passed=sum(passed for _, passed, _ in verdicts) if scored else None,
                    tickets_total=tickets,
                    summary=run_summary(branch=branch, status=run.status, verdicts=verdicts, reason=run.reason)
                    if run
                    else None,
                )
            )
        if refs:
            timeline.append(TimelinePush(id=push.pk, at=push.at, refs=refs))
    return timeline


@dataclass(frozen=True)
class PullSummary:
    number: int
    title: str
    branch: str
    closes: list[int]
    excerpt: str  # the description as plain text, cut short
    description: str = ""  # the whole description, Markdown as the candidate wrote it


def invite_pull_summaries(*, invite: Invite, excerpt: int = 300) -> list[PullSummary]:
    """The invite's pull requests for the report, with their descriptions (commits and diffs are on the
    pull request pages)."""
    summaries = []
    for pull in PullRequest.objects.filter(invite=invite).order_by("number"):
        text = " ".join(pull.description.split())
        summaries.append(
            PullSummary(
                number=pull.number,
                title=pull.title,
                branch=pull.branch,
                closes=list(pull.closes),
                excerpt=text if len(text) <= excerpt else text[: excerpt - 1] + "…",
                description=pull.description,
            )
        )
    return summaries


def invite_result_at(*, invite: Invite, push_id: int) -> InviteResult | None:
    """The ticket x branch matrix as it stood right after one push; None if the push is not the invite's.

    The branch heads are replayed from the push log up to that push; each head's cells come from
    its latest run (a commit's run is queued as it is pushed). Four queries, whatever the history.
    """
    push = Push.objects.filter(invite=invite, pk=push_id).first()
    if push is None:
        return None
    base = invite.repository.base_commit
    heads = {"main": base}
    updates = (
        RefUpdate.objects.filter(push__invite=invite)
        .filter(Q(push__at__lt=push.at) | Q(push__at=push.at, push_id__lte=push.pk))
        .order_by("push__at", "push_id", "id")
        .values_list("ref", "new_sha", "kind")
    )
    for ref, new, kind in updates:
        if not ref.startswith("refs/heads/"):
            continue
        name = ref.removeprefix("refs/heads/")
        if kind == RefUpdate.Kind.DELETED or new == ZERO_SHA:
            heads.pop(name, None)
        else:
            heads[name] = new
    names = sorted(heads, key=branch_order)
    kept = names[:MAX_BRANCHES]
    latest: dict[str, Run] = {}
    for run in (
        Run.objects.filter(invite=invite, commit__in={heads[name] for name in kept})
        .prefetch_related("verdicts")
        .order_by("queued_at", "id")
    ):
        current = latest.get(run.commit)
        if current is None or current.grader_version != GRADER_VERSION:
            latest[run.commit] = run
    manifest_tickets = invite.assessment_version.manifest.get("tickets", [])
    branches = []
    for name in kept:
        run = latest.get(heads[name])
        scored = run is not None and run.status in (Run.Status.PASSED, Run.Status.FAILED)
        verdicts = {v.ticket: v for v in run.verdicts.all()} if scored else {}
        cells = {
            t["number"]: Cell(
                passed=verdicts[t["number"]].passed,
                tests_passed=verdicts[t["number"]].tests_passed,
                tests_total=verdicts[t["number"]].tests_total,
                earned=verdict_earned(verdicts[t["number"]], t["points"]),
            )
            if t["number"] in verdicts
            else Cell(passed=None)
            for t in manifest_tickets
        }
        summary = None
        if run is not None:
            summary = RunSummary(id=run.pk, status=run.status, reason=run.reason, grader=run.grader_version)
        branches.append(BranchResult(branch=name, head=heads[name], run=summary, cells=cells))
    by_name = {b.branch: b for b in branches}
    tickets = []
    for t in manifest_tickets:
        branch = by_name.get(f"issue-{t['number']}")
        cell = branch.cells[t["number"]] if branch else Cell(passed=None)
        tickets.append(
            TicketResult(
                number=t["number"],
                title=t["title"],
                points=t["points"],
                branch=branch.branch if branch else None,
                passed=cell.passed,
                earned=ticket_earned({"points": t["points"], "passed": cell.passed, "partial": cell.earned}),
            )
        )
    return InviteResult(
        invite=invite,
        title=invite.assessment_version.manifest.get("title", ""),
        base=base,
        baseline=None,
        branches=branches,
        tickets=tickets,
        branches_left_out=len(names) - len(kept),
        analysed_at=push.at,
    )


def commit_identities(*, invite_ids: list[int]) -> dict[int, set[tuple[str, str]]]:
    """Invite id -> every (name, email) that authored or committed a stored branch commit; one query.

    For blind review, which hides them; read from the evidence the worker stored, never from git.
    """
    found: dict[int, set[tuple[str, str]]] = {}
    for invite_id, commits in BranchEvidence.objects.filter(invite_id__in=invite_ids).values_list(
        "invite_id", "commits"
    ):
        people = found.setdefault(invite_id, set())
        for commit in commits or ():
            people.add((commit.get("author", ""), commit.get("author_email", "")))
            if commit.get("committer"):
                people.add((commit["committer"], commit.get("committer_email", "")))
    return found


# The status page lists runs waiting or running for longer than this: a run usually starts within
# seconds of its push and ends within a minute or two.
RUN_LONG_AFTER_SECONDS = 120


@dataclass(frozen=True)
class RunInFlight:
    """A run the status page shows: waiting, running, or stuck, for longer than RUN_LONG_AFTER_SECONDS."""

    pk: int
    invite: str  # public id
    candidate: str
    ref: str
    commit: str
    state: str  # in words
    since: datetime  # queued, handed over, or started: what the age counts from
    age_seconds: int
    worker: str
    attempt: int
    stuck: str  # why it needs repair ("" if it does not yet)

    @property
    def can_resend(self) -> bool:
        return self.state != "waiting for its turn"


def runs_in_flight(*, now: datetime | None = None, limit: int = 100) -> list[RunInFlight]:
    """Runs waiting, running or stuck for longer than RUN_LONG_AFTER_SECONDS, oldest first, stuck first.

    A fixed number of queries, whatever the number of runs.
    """
    from django.utils import timezone

    from portal.scoring.services import STUCK_WHY, runs_stuck

    now = now or timezone.now()
    stuck = {run.pk: STUCK_WHY[why] for why, runs in runs_stuck(now=now).items() for run in runs}
    long_ago = now - timedelta(seconds=RUN_LONG_AFTER_SECONDS)
    candidates = (
        Run.objects.filter(status__in=Run.ACTIVE)
        .filter(
            Q(pk__in=stuck)
            | Q(status=Run.Status.RUNNING, started_at__lt=long_ago)
            | Q(status=Run.Status.QUEUED, dispatched_at__lt=long_ago)
            | Q(status=Run.Status.QUEUED, dispatched_at__isnull=True, queued_at__lt=long_ago)
        )
        .select_related("invite__candidate")
        .order_by("queued_at", "pk")[:limit]
    )
    listed = []
    for run in candidates:
        if run.status == Run.Status.RUNNING:
            state, since = "running", run.started_at or run.queued_at
        elif run.dispatched_at is None:
            state, since = "waiting for its turn", run.queued_at
        else:
            state, since = "waiting for a worker", run.dispatched_at
        listed.append(
            RunInFlight(
                pk=run.pk,
                invite=run.invite.public_id,
                candidate=run.invite.candidate.name,
                ref=run.ref,
                commit=run.commit,
                state=state,
                since=since,
                age_seconds=max(0, int((now - since).total_seconds())),
                worker=run.worker,
                attempt=run.attempt,
                stuck=stuck.get(run.pk, ""),
            )
        )
    return sorted(listed, key=lambda run: (not run.stuck, -run.age_seconds))
