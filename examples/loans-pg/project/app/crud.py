"""What the routes do with the database. Nothing here commits: the route that calls it does."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Loan, Tool, utcnow


class NotFound(LookupError):
    pass


class NoUnitLeft(Exception):
    """Every unit of the tool is lent."""


class AlreadyReturned(Exception):
    pass


def create_tool(db: Session, *, name: str, units: int) -> Tool:
    tool = Tool(name=name, units=units)
    db.add(tool)
    db.flush()
    return tool


def get_tool(db: Session, tool_id: int) -> Tool:
    tool = db.get(Tool, tool_id)
    if tool is None:
        raise NotFound(f"no tool {tool_id}")
    return tool


def units_lent(db: Session, tool_id: int) -> int:
    """How many units of the tool are out now (lent and not returned)."""
    return db.scalar(select(func.count(Loan.id)).where(Loan.tool_id == tool_id, Loan.returned_at.is_(None)))


def tool_view(db: Session, tool: Tool) -> dict:
    out = db.scalar(select(func.count(Loan.id)).where(Loan.tool_id == tool.id))
    return {
        "id": tool.id,
        "name": tool.name,
        "units": tool.units,
        "units_out": out,
        "units_available": tool.units - out,
    }


def borrow(db: Session, tool_id: int, member: str) -> Loan:
    """Lend a unit of the tool to the member, or raise NoUnitLeft."""
    tool = get_tool(db, tool_id)
    if units_lent(db, tool_id) >= tool.units:
        raise NoUnitLeft(f"every unit of {tool.name} is lent")
    loan = Loan(tool_id=tool_id, member=member)
    db.add(loan)
    db.flush()
    return loan


def give_back(db: Session, loan_id: int) -> Loan:
    loan = db.get(Loan, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id}")
    if loan.returned_at is not None:
        raise AlreadyReturned(f"loan {loan_id} was returned already")
    loan.returned_at = utcnow()
    db.flush()
    return loan
