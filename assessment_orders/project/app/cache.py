"""Product details kept in memory: the storefront reads a product on every page view.

A product is looked up by its id (product pages) or by its SKU (the barcode scanners in the
warehouse). Entries are the answers as the API gives them.
"""

from threading import Lock

from app.schemas import ProductRead


class ProductCache:
    def __init__(self) -> None:
        self._lock = Lock()
        self._by_id: dict[int, ProductRead] = {}
        self._by_sku: dict[str, ProductRead] = {}

    def by_id(self, product_id: int) -> ProductRead | None:
        return self._by_id.get(product_id)

    def by_sku(self, sku: str) -> ProductRead | None:
        return self._by_sku.get(sku)

    def put(self, product: ProductRead) -> None:
        with self._lock:
            self._by_id[product.id] = product
            self._by_sku[product.sku] = product


products = ProductCache()
