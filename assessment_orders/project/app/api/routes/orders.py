from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, status

from app import crud
from app.api.deps import SessionDep
from app.core.config import settings
from app.models import Order
from app.schemas import OrderCreate, OrderRead

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get("", response_model=list[OrderRead])
def list_orders(
    db: SessionDep,
    customer_id: Annotated[int | None, Query(description="Only this customer's orders.")] = None,
    limit: Annotated[int, Query(ge=1, le=settings.max_list_size)] = settings.default_list_size,
) -> list[Order]:
    return crud.list_orders(db, customer_id=customer_id, limit=limit)


@router.post("", response_model=OrderRead, status_code=status.HTTP_201_CREATED)
def place_order(
    db: SessionDep,
    data: OrderCreate,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=100, description="The client's key for this order: a retry with it is not a new order."),
    ] = None,
) -> Order:
    try:
        return crud.place_order(db, data, idempotency_key=idempotency_key)
    except crud.NotFound as exc:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except crud.ConflictError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc


@router.get("/{order_id}", response_model=OrderRead)
def get_order(db: SessionDep, order_id: int) -> Order:
    order = crud.get_order(db, order_id)
    if order is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Order not found")
    return order
