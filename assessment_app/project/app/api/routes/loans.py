from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from app import crud
from app.api.deps import CurrentMember, SessionDep
from app.models import Loan
from app.schemas import LoanCreate, LoanRead

router = APIRouter(prefix="/loans", tags=["loans"])


@router.get("", response_model=list[LoanRead])
def list_my_loans(
    db: SessionDep,
    member: CurrentMember,
    active: Annotated[bool | None, Query(description="Only loans still out (true) or returned (false).")] = None,
) -> list[Loan]:
    return crud.list_loans(db, member, active=active)


@router.post("", response_model=LoanRead, status_code=status.HTTP_201_CREATED)
def borrow_book(db: SessionDep, member: CurrentMember, data: LoanCreate) -> Loan:
    book = crud.get_book(db, data.book_id)
    if book is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Book not found")
    try:
        return crud.borrow_book(db, member, book)
    except crud.ConflictError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc


@router.post("/{loan_id}/return", response_model=LoanRead)
def return_book(db: SessionDep, member: CurrentMember, loan_id: int) -> Loan:
    loan = crud.get_loan(db, loan_id)
    if loan is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Loan not found")
    try:
        return crud.return_loan(db, loan)
    except crud.ConflictError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc
