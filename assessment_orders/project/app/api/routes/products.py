from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from app import crud
from app.api.deps import SessionDep
from app.core.config import settings
from app.models import Product
from app.schemas import ProductCreate, ProductRead, ProductUpdate

router = APIRouter(prefix="/products", tags=["products"])


def _not_found() -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Product not found")


@router.get("", response_model=list[ProductRead])
def list_products(
    db: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="Part of a name or a SKU.")] = None,
    limit: Annotated[int, Query(ge=1, le=settings.max_list_size)] = settings.default_list_size,
) -> list[Product]:
    return crud.list_products(db, q=q, limit=limit)


@router.post("", response_model=ProductRead, status_code=status.HTTP_201_CREATED)
def create_product(db: SessionDep, data: ProductCreate) -> Product:
    try:
        return crud.create_product(db, data)
    except crud.ConflictError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc


@router.get("/by-sku/{sku}", response_model=ProductRead)
def get_product_by_sku(db: SessionDep, sku: str) -> ProductRead:
    product = crud.read_product_by_sku(db, sku)
    if product is None:
        raise _not_found()
    return product


@router.get("/{product_id}", response_model=ProductRead)
def get_product(db: SessionDep, product_id: int) -> ProductRead:
    product = crud.read_product(db, product_id)
    if product is None:
        raise _not_found()
    return product


@router.patch("/{product_id}", response_model=ProductRead)
def update_product(db: SessionDep, product_id: int, changes: ProductUpdate) -> Product:
    product = crud.get_product(db, product_id)
    if product is None:
        raise _not_found()
    return crud.update_product(db, product, changes)
