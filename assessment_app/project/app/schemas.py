"""Request and response bodies."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, computed_field

# Field types shared by several schemas.
ShortText = Annotated[str, Field(max_length=200)]
CopyCount = Annotated[int, Field(description="Physical copies the library owns.")]
Isbn = Annotated[str, Field(pattern=r"^(\d{9}[\dX]|\d{13})$", description="ISBN-10 or ISBN-13, digits only.")]
Year = Annotated[int, Field(ge=1450, le=2100)]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


# Books


class BookCreate(BaseModel):
    title: ShortText
    author: ShortText
    isbn: Isbn
    published_year: Year | None = None
    description: str = ""
    copies_total: CopyCount = 1


class BookUpdate(BaseModel):
    """Fields to change; the ones left out keep their value."""

    title: ShortText | None = None
    author: ShortText | None = None
    isbn: Isbn | None = None
    published_year: Year | None = None
    description: str = ""
    copies_total: CopyCount = 1


class BookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    author: str
    isbn: str
    published_year: int | None
    description: str
    copies_total: int
    copies_on_loan: int
    created_at: datetime

    @computed_field
    @property
    def available_copies(self) -> int:
        return max(self.copies_total - self.copies_on_loan, 0)


class BookPage(BaseModel):
    items: list[BookRead]
    page: int
    page_size: int
    has_next: bool


# Members


class MemberCreate(BaseModel):
    name: ShortText
    email: Email


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    created_at: datetime


class MemberWithKey(MemberRead):
    api_key: str = Field(description="Shown only once. Send it as `Authorization: Bearer <key>`.")


# Loans


class LoanCreate(BaseModel):
    book_id: int


class LoanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    book_id: int
    member_id: int
    borrowed_at: datetime
    due_at: datetime
    returned_at: datetime | None
