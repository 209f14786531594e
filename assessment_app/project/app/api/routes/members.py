from fastapi import APIRouter, HTTPException, status

from app import crud
from app.api.deps import CurrentMember, SessionDep
from app.models import Member
from app.schemas import MemberCreate, MemberRead, MemberWithKey

router = APIRouter(prefix="/members", tags=["members"])


@router.post("", response_model=MemberWithKey, status_code=status.HTTP_201_CREATED)
def create_member(db: SessionDep, data: MemberCreate) -> MemberWithKey:
    try:
        member, api_key = crud.create_member(db, data)
    except crud.ConflictError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return MemberWithKey(**MemberRead.model_validate(member).model_dump(), api_key=api_key)


@router.get("/me", response_model=MemberRead)
def read_current_member(member: CurrentMember) -> Member:
    return member
