"""Dependencies shared by the routes: the database session."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from app.core.db import SessionLocal


def get_db() -> Iterator[Session]:
    """A session per request, closed (and anything it did not commit rolled back) when the request ends."""
    with SessionLocal() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]
