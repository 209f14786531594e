from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from app import crud
from app.api.deps import SessionDep
from app.core.config import settings
from app.models import Book
from app.schemas import BookCreate, BookPage, BookRead, BookUpdate

router = APIRouter(prefix="/books", tags=["books"])


def _get_book_or_404(db: SessionDep, book_id: int) -> Book:
    book = crud.get_book(db, book_id)
    if book is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Book not found")
    return book


@router.get("", response_model=BookPage)
def list_books(
    db: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="Part of a title or an author's name.")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=settings.max_page_size)] = settings.default_page_size,
) -> BookPage:
    books, has_next = crud.list_books(db, q=q, page=page, page_size=page_size)
    return BookPage(
        items=[BookRead.model_validate(book) for book in books],
        page=page,
        page_size=page_size,
        has_next=has_next,
    )


@router.post("", response_model=BookRead, status_code=status.HTTP_201_CREATED)
def create_book(db: SessionDep, data: BookCreate) -> Book:
    try:
        return crud.create_book(db, data)
    except crud.ConflictError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc


@router.get("/{book_id}", response_model=BookRead)
def get_book(db: SessionDep, book_id: int) -> Book:
    return _get_book_or_404(db, book_id)


@router.patch("/{book_id}", response_model=BookRead)
def update_book(db: SessionDep, book_id: int, changes: BookUpdate) -> Book:
    book = _get_book_or_404(db, book_id)
    try:
        return crud.update_book(db, book, changes)
    except crud.ConflictError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc


@router.delete("/{book_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_book(db: SessionDep, book_id: int) -> Response:
    book = _get_book_or_404(db, book_id)
    try:
        crud.delete_book(db, book)
    except crud.ConflictError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
