from fastapi import APIRouter
from sqlalchemy import text

from app.api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(db: SessionDep) -> dict[str, str]:
    """Answers once the service can reach its database."""
    db.execute(text("SELECT 1"))
    return {"status": "ok"}
