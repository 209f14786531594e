"""The application: `uvicorn app.main:app`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import crud
from app.db import get_db, init_db
from app.models import Loan


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    init_db()
    yield


app = FastAPI(title="Tool library loans", version="1.0.0", lifespan=lifespan)
DB = Annotated[Session, Depends(get_db)]


class ToolIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    units: int = Field(ge=1, le=1000)


class LoanIn(BaseModel):
    tool_id: int
    member: str = Field(min_length=1, max_length=200)


def loan_view(loan: Loan) -> dict:
    return {
        "id": loan.id,
        "tool_id": loan.tool_id,
        "member": loan.member,
        "lent_at": loan.lent_at.isoformat(),
        "returned_at": loan.returned_at.isoformat() if loan.returned_at else None,
    }


@app.get("/health")
def health(db: DB) -> dict:
    db.execute(text("SELECT 1"))
    return {"status": "ok"}


@app.post("/tools", status_code=201)
def add_tool(body: ToolIn, db: DB) -> dict:
    tool = crud.create_tool(db, name=body.name, units=body.units)
    db.commit()
    return crud.tool_view(db, tool)


@app.get("/tools/{tool_id}")
def show_tool(tool_id: int, db: DB) -> dict:
    try:
        return crud.tool_view(db, crud.get_tool(db, tool_id))
    except crud.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc


@app.post("/loans", status_code=201)
def lend(body: LoanIn, db: DB) -> dict:
    try:
        loan = crud.borrow(db, body.tool_id, body.member)
    except crud.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except crud.NoUnitLeft as exc:
        raise HTTPException(409, str(exc)) from exc
    db.commit()
    return loan_view(loan)


@app.post("/loans/{loan_id}/return")
def give_back(loan_id: int, db: DB) -> dict:
    try:
        loan = crud.give_back(db, loan_id)
    except crud.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except crud.AlreadyReturned as exc:
        raise HTTPException(409, str(exc)) from exc
    db.commit()
    return loan_view(loan)
