"""Database operations. They raise the errors below; the routes turn them into HTTP responses."""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.config import settings
from app.models import Book, Loan, Member, utcnow
from app.schemas import BookCreate, BookUpdate, MemberCreate


class ConflictError(Exception):
    """The request is valid but clashes with the current state of the data."""


class DuplicateIsbn(ConflictError):
    def __init__(self, isbn: str) -> None:
        super().__init__(f"A book with ISBN {isbn} is already in the catalogue")


class DuplicateEmail(ConflictError):
    def __init__(self) -> None:
        super().__init__("A member with this email address already exists")


class CopiesOnLoan(ConflictError):
    def __init__(self, on_loan: int) -> None:
        super().__init__(f"{on_loan} copies of this book are on loan; copies_total cannot be lower than that")


class BookOnLoan(ConflictError):
    def __init__(self) -> None:
        super().__init__("This book has copies on loan; it can be removed once they are returned")


class NoCopyAvailable(ConflictError):
    def __init__(self) -> None:
        super().__init__("All copies of this book are on loan")


class LoanLimitReached(ConflictError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Members can have at most {limit} books on loan at a time")


class AlreadyReturned(ConflictError):
    def __init__(self) -> None:
        super().__init__("This loan has already been returned")


# Books


def get_book(db: Session, book_id: int) -> Book | None:
    return db.execute(select(Book).where(Book.id == book_id)).scalar_one()


def list_books(db: Session, *, q: str | None, page: int, page_size: int) -> tuple[list[Book], bool]:
    """One page of the catalogue, ordered by title, and whether another page follows."""
    stmt = select(Book).order_by(Book.title, Book.id)
    if q:
        pattern = f"%{q}%"
        stmt = stmt.where(or_(Book.title.ilike(pattern), Book.author.ilike(pattern)))
    # One row more than asked for tells whether there is a next page.
    rows = db.scalars(stmt.offset((page - 1) * page_size).limit(page_size + 1)).all()
    has_next = len(rows) > page_size
    return list(rows), has_next


def create_book(db: Session, data: BookCreate) -> Book:
    book = Book(**data.model_dump())
    db.add(book)
    try:
        db.commit()
    except IntegrityError as exc:
        db.rollback()
        raise DuplicateIsbn(data.isbn) from exc
    db.refresh(book)
    return book


def update_book(db: Session, book: Book, changes: BookUpdate) -> Book:
    for field, value in changes.model_dump(exclude_none=True).items():
        setattr(book, field, value)
    try:
        db.flush()
    except IntegrityError as exc:
        db.rollback()
        raise DuplicateIsbn(changes.isbn or book.isbn) from exc
    on_loan = count_active_loans(db, book_id=book.id)
    if book.copies_total < on_loan:
        raise CopiesOnLoan(on_loan)
    db.commit()
    db.refresh(book)
    return book


def delete_book(db: Session, book: Book) -> None:
    if count_active_loans(db, book_id=book.id):
        raise BookOnLoan()
    db.delete(book)
    db.commit()


# Members


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_member(db: Session, data: MemberCreate) -> tuple[Member, str]:
    """Create a member; returns it with its API key, which is not stored in clear."""
    api_key = secrets.token_urlsafe(32)
    member = Member(name=data.name, email=data.email.lower(), api_key_hash=hash_api_key(api_key))
    db.add(member)
    try:
        db.commit()
    except IntegrityError as exc:
        db.rollback()
        raise DuplicateEmail() from exc
    db.refresh(member)
    return member, api_key


def get_member_by_api_key(db: Session, api_key: str) -> Member | None:
    return db.scalars(select(Member).where(Member.api_key_hash == hash_api_key(api_key))).one_or_none()


# Loans


def count_active_loans(db: Session, *, book_id: int | None = None, member_id: int | None = None) -> int:
    stmt = select(func.count(Loan.id)).where(Loan.returned_at.is_(None))
    if book_id is not None:
        stmt = stmt.where(Loan.book_id == book_id)
    if member_id is not None:
        stmt = stmt.where(Loan.member_id == member_id)
    return db.scalar(stmt) or 0


def list_loans(db: Session, member: Member, *, active: bool | None = None) -> list[Loan]:
    stmt = select(Loan).where(Loan.member_id == member.id).order_by(Loan.borrowed_at.desc(), Loan.id.desc())
    if active is True:
        stmt = stmt.where(Loan.returned_at.is_(None))
    elif active is False:
        stmt = stmt.where(Loan.returned_at.is_not(None))
    return list(db.scalars(stmt))


def get_loan(db: Session, loan_id: int) -> Loan | None:
    return db.get(Loan, loan_id)


def borrow_book(db: Session, member: Member, book: Book) -> Loan:
    now = utcnow()
    loan = Loan(
        book_id=book.id,
        member_id=member.id,
        borrowed_at=now,
        due_at=now + timedelta(days=settings.loan_period_days),
    )
    # Insert first and count within the same transaction, so the counts below include this loan.
    db.add(loan)
    db.flush()
    if count_active_loans(db, member_id=member.id) > settings.max_active_loans:
        raise LoanLimitReached(settings.max_active_loans)
    if count_active_loans(db, book_id=book.id) > book.copies_total:
        raise NoCopyAvailable()
    db.commit()
    db.refresh(loan)
    return loan


def return_loan(db: Session, loan: Loan) -> Loan:
    if loan.returned_at is not None:
        raise AlreadyReturned()
    loan.returned_at = utcnow()
    db.commit()
    db.refresh(loan)
    return loan
