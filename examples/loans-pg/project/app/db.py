"""The database: PostgreSQL, found through DATABASE_URL (libpq's postgresql://user:password@host/name)."""

import os
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

DEFAULT_URL = "postgresql://loans:loans@localhost:5432/loans"  # compose.yaml's database


def engine_url(url: str) -> str:
    """SQLAlchemy's form of a libpq URL: the same address, through the psycopg 3 driver."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


class Base(DeclarativeBase):
    pass


engine = create_engine(engine_url(os.environ.get("DATABASE_URL") or DEFAULT_URL), pool_size=5, max_overflow=5)
SessionLocal = sessionmaker(bind=engine)


def init_db() -> None:
    """Create the tables that don't exist yet (each worker process does this as it starts)."""
    from app import models  # noqa: F401  (registers the models on Base.metadata)

    with engine.begin() as connection:
        # Two workers starting at once would both create the tables: one at a time.
        connection.execute(text("SELECT pg_advisory_xact_lock(7301)"))
        Base.metadata.create_all(connection)


def get_db() -> Iterator[Session]:
    """One session per request."""
    with SessionLocal() as session:
        yield session
