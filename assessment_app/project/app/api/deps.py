"""Dependencies shared by the routes: the database session and the current member."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app import crud
from app.core.db import SessionLocal
from app.models import Member

session = SessionLocal()


def get_db() -> Iterator[Session]:
    yield session


SessionDep = Annotated[Session, Depends(get_db)]

_bearer = HTTPBearer(auto_error=False, description="The member's API key.")


def get_current_member(
    db: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Member:
    member = crud.get_member_by_api_key(db, credentials.credentials) if credentials else None
    if member is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="A valid API key is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return member


CurrentMember = Annotated[Member, Depends(get_current_member)]
