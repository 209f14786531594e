"""Database operations. They raise the errors below; the routes turn them into HTTP responses."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import cache, payments
from app.models import Customer, Order, OrderLine, Product
from app.schemas import CustomerCreate, OrderCreate, ProductCreate, ProductRead, ProductUpdate


class NotFound(Exception):
    """A record the request names does not exist."""


class ConflictError(Exception):
    """The request is valid but clashes with the current state of the data."""


class DuplicateSku(ConflictError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"A product with SKU {sku} already exists")


class DuplicateEmail(ConflictError):
    def __init__(self) -> None:
        super().__init__("A customer with this email address already exists")


class OutOfStock(ConflictError):
    def __init__(self, product: Product, quantity: int) -> None:
        super().__init__(f"Not enough {product.name} in stock for {quantity}")
        self.product_id = product.id


# Products


def get_product(db: Session, product_id: int) -> Product | None:
    return db.get(Product, product_id)


def read_product(db: Session, product_id: int) -> ProductRead | None:
    """A product as the API shows it, from the cache when it is there."""
    found = cache.products.by_id(product_id)
    if found is None:
        product = db.get(Product, product_id)
        if product is None:
            return None
        found = ProductRead.model_validate(product)
        cache.products.put(found)
    return found


def read_product_by_sku(db: Session, sku: str) -> ProductRead | None:
    found = cache.products.by_sku(sku)
    if found is None:
        product = db.scalars(select(Product).where(Product.sku == sku)).one_or_none()
        if product is None:
            return None
        found = ProductRead.model_validate(product)
        cache.products.put(found)
    return found


def list_products(db: Session, *, q: str | None, limit: int) -> list[Product]:
    """Products ordered by name; `q` matches part of a name or a SKU."""
    stmt = select(Product).order_by(Product.name, Product.id).limit(limit)
    if q:
        stmt = stmt.where(Product.name.icontains(q) | Product.sku.icontains(q))
    return list(db.scalars(stmt))


def create_product(db: Session, data: ProductCreate) -> Product:
    product = Product(**data.model_dump())
    db.add(product)
    try:
        db.commit()
    except IntegrityError as exc:
        db.rollback()
        raise DuplicateSku(data.sku) from exc
    db.refresh(product)
    return product


def update_product(db: Session, product: Product, changes: ProductUpdate) -> Product:
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(product, field, value)
    db.commit()
    db.refresh(product)
    return product


# Customers


def get_customer(db: Session, customer_id: int) -> Customer | None:
    return db.get(Customer, customer_id)


def create_customer(db: Session, data: CustomerCreate) -> Customer:
    customer = Customer(name=data.name, email=data.email.lower())
    db.add(customer)
    try:
        db.commit()
    except IntegrityError as exc:
        db.rollback()
        raise DuplicateEmail() from exc
    db.refresh(customer)
    return customer


# Orders


def list_orders(db: Session, *, customer_id: int | None, limit: int) -> list[Order]:
    """Orders, newest first, with their customer and lines."""
    stmt = select(Order).order_by(Order.created_at.desc(), Order.id.desc()).limit(limit)
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    return list(db.scalars(stmt))


def get_order(db: Session, order_id: int) -> Order | None:
    return db.get(Order, order_id)


def take_stock(db: Session, product: Product, quantity: int) -> None:
    """Take `quantity` units of the product off the shelf, or raise OutOfStock."""
    if product.stock < quantity:
        raise OutOfStock(product, quantity)
    product.stock -= quantity


def place_order(db: Session, data: OrderCreate, *, idempotency_key: str | None = None) -> Order:
    """Place an order: take its quantities from stock, at today's prices, all or nothing."""
    customer = db.get(Customer, data.customer_id)
    if customer is None:
        raise NotFound("Customer not found")

    lines = []
    for item in data.lines:
        product = db.get(Product, item.product_id)
        if product is None:
            raise NotFound(f"Product {item.product_id} not found")
        take_stock(db, product, item.quantity)
        lines.append(OrderLine(product=product, quantity=item.quantity, unit_price_cents=product.price_cents))
    payments.authorize(customer.id, sum(line.quantity * line.unit_price_cents for line in lines))
    order = Order(customer=customer, idempotency_key=idempotency_key, lines=lines)
    db.add(order)
    db.commit()

    db.refresh(order)
    return order
