import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse


@dataclass(frozen=True)
class StatusPage:
    html: str

    @property
    def rows(self) -> dict[str, list[str]]:
        """The worker table's cells as text, by worker name (the first cell)."""
        rows = {}
        for row in re.findall(r"<tr>(.*?)</tr>", self.html, re.S):
            cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            if cells:
                rows[cells[0]] = cells
        return rows


@pytest.fixture
def status_page(client, admin_user) -> Callable[[], StatusPage]:
    """Reads the staff status page afresh at each call, as an administrator."""
    client.force_login(admin_user)
    return lambda: StatusPage(client.get(reverse("system_status")).content.decode())
