"""Helpers for browser tests: signing in, and numbered full-page screenshots of each step at
desktop and phone widths, under var/screenshots/<flow>/ (an ignored folder) for a person to look at.
"""

from pathlib import Path

from django.conf import settings

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class Screenshots:
    def __init__(self, flow: str):
        self.folder = Path(settings.VAR_DIR) / "screenshots" / flow
        self.count = 0
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()

    def take(self, page, name: str) -> None:
        self.count += 1
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.screenshot(path=self.folder / f"{self.count:02d}-{name}-{label}.png", full_page=True)
        page.set_viewport_size(DESKTOP)

    def saved(self) -> int:
        return len(list(self.folder.glob("*.png")))


def sign_in(page, url: str, username: str) -> None:
    """Sign in through the login form (every persona of tests/conftest.py has the same password)."""
    from tests.conftest import PASSWORD

    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
