"""Reading an invite's result: rows only, never git, never a subprocess, never a write.

The analysis (portal.scoring.analysis) is computed by a worker and stored; here it is turned back
into dataclasses for pages, `report` and the API. The number of queries does not depend on how
many branches or runs the invite has.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from django.db.models import F, Q, Sum

from gitplumbing import ZERO_SHA
from gitplumbing.diffs import Commit, Diff
from portal.hosting.models import PullRequest, Push, RefUpdate
from portal.invites.models import Invite
from portal.scoring.analysis import MAX_BRANCHES, VISIBLE_HIDDEN_DISAGREE, Integration, branch_order
from portal.scoring.highlight import HighlightedFile, highlight_diff
from portal.scoring.hygiene import Finding
from portal.scoring.models import BranchEvidence, InviteAnalysis, Run, TestResult, TicketVerdict
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


def invite_result(*, invite: Invite) -> InviteResult:
    """The invite's stored result; before its first analysis, the tickets with nothing earned."""
    analysis = InviteAnalysis.objects.filter(invite=invite).first()
    data = analysis.result if analysis is not None and analysis.computed_at is not None else {}
    runs_pending = Run.objects.filter(invite=invite, status__in=Run.ACTIVE).exists()
    version = invite.assessment_version
    tickets = [TicketResult(**t) for t in data.get("tickets", [])] or [
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
    tickets: tuple[tuple[int, bool], ...] = ()
    hidden_passed: int | None = None
    hidden_total: int | None = None

    @property
    def finished(self) -> bool:
        return self.status not in Run.ACTIVE

    @property
    def reason_line(self) -> str:
        return first_line(self.reason, cap=160)

    @property
    def label(self) -> str:
        """The run's state in words that say what it means ("failed" read as a broken run)."""
        if self.status == Run.Status.QUEUED:
            return "waiting for the earlier runs of this invite" if self.waiting else "queued"
        if self.status == Run.Status.RUNNING:
            return "running"
        if self.status in (Run.Status.PASSED, Run.Status.FAILED):
            if self.hidden_total is None:
                return "scored"
            return f"scored: {self.hidden_passed} of {self.hidden_total} hidden tests pass"
        if self.status == Run.Status.SUPERSEDED:
            return "superseded: a newer push replaced it before it ran"
        return f"error: {self.reason_line or 'the run could not complete'}"


def runs_pending(statuses: list[RunStatus]) -> bool:
    return any(s.status in Run.ACTIVE for s in statuses)


def invite_pending(*, invite: Invite) -> bool:
    """Whether the invite's result may still change by itself: a run it depends on (a branch head,
    the starting point, the integration) is queued or running, or a newer analysis is on its way."""
    analysis_pending = InviteAnalysis.objects.filter(invite=invite, computed__lt=F("requested")).exists()
    return analysis_pending or Run.objects.filter(invite=invite, status__in=Run.ACTIVE).exists()


INTEGRATED_LABEL = "integrated"


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
        for run_id, ticket, passed in (
            TicketVerdict.objects.filter(run__in=[r.pk for r in runs])
            .order_by("ticket")
            .values_list("run_id", "ticket", "passed")
        ):
            verdicts.setdefault(run_id, []).append((ticket, passed))
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
    run_id: int | None
    tests: list[FailingTest]
    more: int = 0  # failing tests beyond FAILING_TESTS_SHOWN


def hidden_test_name(test_id: str) -> str:
    """``hidden/test_ticket_2.py::TestBooks::test_reading[1]`` -> ``test_reading[1]``."""
    return test_id.rsplit("::", 1)[-1]


def first_line(message: str, cap: int = MESSAGE_SHOWN) -> str:
    line = next((part.strip() for part in message.splitlines() if part.strip()), "")
    return line if len(line) <= cap else line[: cap - 1] + "…"


def failing_hidden_tests(*, invite: Invite) -> list[TicketFailures]:
    """Per ticket that has a branch, the hidden tests its branch's run failed (the matrix's run).

    Names and one-line messages only: what a reviewer needs to see why, not the tests themselves.
    """
    data = _stored_result(invite)
    runs = {b["branch"]: (b.get("run") or {}).get("id") for b in data.get("branches", [])}
    tickets = [t for t in data.get("tickets", []) if t.get("branch")]
    wanted = {(runs.get(t["branch"]), t["number"]) for t in tickets if runs.get(t["branch"])}
    found: dict[tuple[int, int], list[FailingTest]] = {}
    if wanted:
        results = (
            TestResult.objects.filter(
                run_id__in={run for run, _ in wanted}, outcome__in=("failed", "error"), ticket__isnull=False
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
        run_id = runs.get(ticket["branch"])
        tests = found.get((run_id, ticket["number"]), [])
        failures.append(
            TicketFailures(
                number=ticket["number"],
                title=ticket["title"],
                branch=ticket["branch"],
                run_id=run_id,
                tests=tests[:FAILING_TESTS_SHOWN],
                more=max(0, len(tests) - FAILING_TESTS_SHOWN),
            )
        )
    return failures


@dataclass(frozen=True)
class TimelineRef:
    branch: str
    kind: str  # RefUpdate.Kind
    old: str
    new: str
    run_status: str | None  # the run of the new head; None if there is none
    tickets_passed: int | None  # None: not scored (yet), or deleted
    tickets_total: int


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
            run = runs.get(update.new_sha)
            scored = run is not None and run.status in (Run.Status.PASSED, Run.Status.FAILED)
            refs.append(
                TimelineRef(
                    branch=update.ref.removeprefix("refs/heads/"),
                    kind=update.kind,
                    old=update.old_sha,
                    new=update.new_sha,
                    run_status=run.status if run else None,
                    tickets_passed=sum(v.passed for v in run.verdicts.all()) if scored else None,
                    tickets_total=tickets,
                )
            )
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
        passed = branch.cells[t["number"]].passed if branch else None
        tickets.append(
            TicketResult(
                number=t["number"],
                title=t["title"],
                points=t["points"],
                branch=branch.branch if branch else None,
                passed=passed,
                earned=t["points"] if passed else 0,
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
