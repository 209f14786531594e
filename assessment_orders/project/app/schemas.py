"""Request and response bodies."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Sku = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$", description="Upper-case letters, digits and dashes.")]
Cents = Annotated[int, Field(ge=0, le=10_000_000, description="An amount in cents.")]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


# Products


class ProductCreate(BaseModel):
    sku: Sku
    name: Name
    description: str = ""
    price_cents: Cents
    stock: Annotated[int, Field(ge=0)] = 0


class ProductUpdate(BaseModel):
    """Fields to change; the ones left out keep their value."""

    name: Name | None = None
    description: str | None = None
    price_cents: Cents | None = None
    stock: Annotated[int, Field(ge=0)] | None = None


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str
    name: str
    description: str
    price_cents: int
    stock: int


# Customers


class CustomerCreate(BaseModel):
    name: Name
    email: Email


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    created_at: datetime


# Orders


class OrderLineCreate(BaseModel):
    product_id: int
    quantity: Annotated[int, Field(ge=1, le=1000)]


class OrderCreate(BaseModel):
    customer_id: int
    lines: Annotated[list[OrderLineCreate], Field(min_length=1, max_length=50)]


class OrderLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: int
    product_name: str
    quantity: int
    unit_price_cents: int


class OrderCustomer(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer: OrderCustomer
    created_at: datetime
    lines: list[OrderLineRead]
    total_cents: int
