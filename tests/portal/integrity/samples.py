"""Submissions of the built-in assessment, as text: a solution two candidates share, and two written
independently for the same feature. Each adds a report of overdue loans (a new route file) and the
query behind it (at the end of app/crud.py)."""

import importlib
from pathlib import Path

from tests.conftest import ROOT

SHIPPED = ROOT / "assessment_app" / "project"
CRUD = (SHIPPED / "app" / "crud.py").read_text()

# The solution that leaked: one candidate wrote it.
LEAKED_ROUTE = '''\
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Query, status

from app import crud
from app.api.deps import CurrentMember, SessionDep
from app.models import utcnow

router = APIRouter(prefix="/reports", tags=["reports"])

LOAN_PERIOD_DAYS = 21


def overdue_since(days: int):
    """The moment before which a loan still out is overdue."""
    if days < 0:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, detail="days must be positive")
    return utcnow() - timedelta(days=days)


def as_row(loan, now):
    late = (now - loan.borrowed_at).days - LOAN_PERIOD_DAYS
    return {
        "loan_id": loan.id,
        "book_id": loan.book_id,
        "member_id": loan.member_id,
        "borrowed_at": loan.borrowed_at.isoformat(),
        "days_late": max(late, 0),
    }


@router.get("/overdue")
def overdue_loans(
    db: SessionDep,
    member: CurrentMember,
    days: int = Query(LOAN_PERIOD_DAYS, description="Days a loan may last."),
    limit: int = Query(50, ge=1, le=500),
) -> dict:
    cutoff = overdue_since(days)
    now = utcnow()
    loans = crud.list_overdue_loans(db, before=cutoff, limit=limit + 1)
    rows = [as_row(loan, now) for loan in loans[:limit]]
    rows.sort(key=lambda row: (-row["days_late"], row["loan_id"]))
    total_late = sum(row["days_late"] for row in rows)
    return {"items": rows, "has_more": len(loans) > limit, "total_days_late": total_late}


@router.get("/overdue/members")
def overdue_members(db: SessionDep, member: CurrentMember) -> list[dict]:
    counts: dict[int, int] = {}
    for loan in crud.list_overdue_loans(db, before=overdue_since(LOAN_PERIOD_DAYS), limit=1000):
        counts[loan.member_id] = counts.get(loan.member_id, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"member_id": member_id, "overdue": count} for member_id, count in ordered]
'''

LEAKED_CRUD = '''

def list_overdue_loans(db: Session, *, before, limit: int) -> list[Loan]:
    """Loans still out that were borrowed before ``before``, oldest first."""
    query = (
        select(Loan)
        .where(Loan.returned_at.is_(None), Loan.borrowed_at < before)
        .order_by(Loan.borrowed_at, Loan.id)
        .limit(limit)
    )
    return list(db.execute(query).scalars())
'''

# The same solution as a second candidate handed it in: every name changed, the functions in
# another order, comments and layout of their own.
COPIED_ROUTE = """\
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Query, status

from app import crud
from app.api.deps import CurrentMember, SessionDep
from app.models import utcnow

reports_router = APIRouter(prefix="/reports", tags=["reports"])

MAX_DAYS = 21


# Who holds the most late books.
@reports_router.get("/overdue/members")
def late_members(session: SessionDep, who: CurrentMember) -> list[dict]:
    tally: dict[int, int] = {}
    for item in crud.find_late_loans(session, before=threshold(MAX_DAYS), limit=1000):
        tally[item.member_id] = tally.get(item.member_id, 0) + 1
    result = sorted(tally.items(), key=lambda pair: (-pair[1], pair[0]))
    return [{"member_id": mid, "overdue": n} for mid, n in result]


def to_dict(entry, current):
    overdue_by = (current - entry.borrowed_at).days - MAX_DAYS
    return {
        "loan_id": entry.id,
        "book_id": entry.book_id,
        "member_id": entry.member_id,
        "borrowed_at": entry.borrowed_at.isoformat(),
        "days_late": max(overdue_by, 0),
    }


def threshold(n: int):
    if n < 0:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, detail="days must be positive")
    return utcnow() - timedelta(days=n)


@reports_router.get("/overdue")
def late_loans(
    session: SessionDep,
    who: CurrentMember,
    days: int = Query(MAX_DAYS, description="Days a loan may last."),
    limit: int = Query(50, ge=1, le=500),
) -> dict:
    boundary = threshold(days)
    current = utcnow()
    found = crud.find_late_loans(session, before=boundary, limit=limit + 1)
    out = [to_dict(item, current) for item in found[:limit]]
    out.sort(key=lambda r: (-r["days_late"], r["loan_id"]))
    total = sum(r["days_late"] for r in out)
    return {"items": out, "has_more": len(found) > limit, "total_days_late": total}
"""

COPIED_CRUD = """

def find_late_loans(session: Session, *, before, limit: int) -> list[Loan]:
    stmt = (
        select(Loan)
        .where(Loan.returned_at.is_(None), Loan.borrowed_at < before)
        .order_by(Loan.borrowed_at, Loan.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())
"""

# Written on its own for the same ticket, in its own way.
OWN_ROUTE = """\
from datetime import datetime, timedelta, timezone

from fastapi import APIRouter

from app import crud
from app.api.deps import CurrentMember, SessionDep

router = APIRouter(prefix="/reports", tags=["reports"])


class OverdueReport:
    grace = timedelta(weeks=3)

    def __init__(self, db):
        self.db = db
        self.today = datetime.now(timezone.utc)

    def lateness(self, loan) -> int:
        due = loan.borrowed_at + self.grace
        return (self.today - due).days if self.today > due else 0

    def build(self, limit: int):
        late = [loan for loan in crud.active_loans(self.db) if self.lateness(loan) > 0]
        late.sort(key=self.lateness, reverse=True)
        return late[:limit], len(late) > limit


@router.get("/overdue")
def get_overdue(db: SessionDep, member: CurrentMember, limit: int = 50):
    report = OverdueReport(db)
    loans, more = report.build(limit)
    items = []
    for loan in loans:
        items.append(dict(loan_id=loan.id, book_id=loan.book_id, member_id=loan.member_id,
                          borrowed_at=loan.borrowed_at.isoformat(), days_late=report.lateness(loan)))
    return dict(items=items, has_more=more, total_days_late=sum(i["days_late"] for i in items))


@router.get("/overdue/members")
def get_overdue_members(db: SessionDep, member: CurrentMember):
    report = OverdueReport(db)
    loans, _ = report.build(10_000)
    by_member = {}
    for loan in loans:
        by_member.setdefault(loan.member_id, []).append(loan.id)
    return sorted(
        ({"member_id": who, "overdue": len(ids)} for who, ids in by_member.items()),
        key=lambda entry: (-entry["overdue"], entry["member_id"]),
    )
"""

OWN_CRUD = """

def active_loans(db: Session) -> list[Loan]:
    return db.scalars(select(Loan).filter(Loan.returned_at == None)).all()  # noqa: E711
"""


def submission(route: str, crud_tail: str) -> dict[str, str]:
    """The changed files of a submission that adds ``route`` and appends ``crud_tail`` to app/crud.py."""
    return {"app/api/routes/reports.py": route, "app/crud.py": CRUD + crud_tail}


LEAKED = submission(LEAKED_ROUTE, LEAKED_CRUD)
COPIED = submission(COPIED_ROUTE, COPIED_CRUD)
OWN = submission(OWN_ROUTE, OWN_CRUD)


def own_module(name: str) -> str:
    """A sizeable module a candidate wrote on their own, for work on another ticket: a standard
    library module's text (written by other people, stable for a Python version)."""
    return Path(importlib.import_module(name).__file__).read_text()


def shipped_files() -> dict[str, str]:
    return {str(p.relative_to(SHIPPED)): p.read_text() for p in sorted(SHIPPED.rglob("*")) if p.is_file()}


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` that contains ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


__all__ = [
    "COPIED",
    "LEAKED",
    "OWN",
    "SHIPPED",
    "Path",
    "candidate",
    "line_of",
    "own_module",
    "run_integrity",
    "shipped_files",
    "submit",
]


def candidate(version, name, tmp_path, **branches):
    """An invite whose candidate committed ``branches`` (branch -> changes or a patch path)."""
    from tests.support.candidates import candidate_commit
    from tests.support.factories import make_invite

    invite = make_invite(version, name=name).invite
    for branch, change in branches.items():
        kwargs = {"patch": change} if not isinstance(change, dict) else {"changes": change}
        candidate_commit(invite, tmp_path / invite.public_id, branch=branch, message=f"{name} on {branch}", **kwargs)
    return invite


def run_integrity(broker) -> list[str]:
    """Do a worker's job for the similarity tasks sent so far (the others are dropped: no sandbox)."""
    broker.tasks[:] = [task for task in broker.tasks if task[0].startswith("integrity.")]
    return broker.run()


def submit(invite, broker) -> list[str]:
    """The candidate submits (the hook queues the comparison on commit); the worker runs it."""
    from portal.invites.services import invite_submit

    with broker.commit():
        invite_submit(invite=invite)
    return run_integrity(broker)
