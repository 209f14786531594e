"""Helpers for browser tests: signing in, numbered full-page screenshots of each step at desktop
and phone widths under var/screenshots/<flow>/ (an ignored folder; CI keeps it as an artifact) for a
person to look at, an axe-core check of a page, and whether a page fits a phone.
"""

import json
from importlib.resources import files
from pathlib import Path

from django.conf import settings

from portal.accounts.models import User
from portal.accounts.second_factor import second_factor_required
from tests.support.second_factor import confirmed_device, pass_second_factor

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
    """Sign in through the login form (every persona of tests/conftest.py has the same password), then,
    for a staff user, through the code page with their authenticator app (set up now if they have none)."""
    from tests.conftest import PASSWORD

    user = User.objects.get(username=username)
    needs_code = second_factor_required(user)
    if needs_code:
        confirmed_device(user)  # before the password: the portal then asks for the code, not enrolment
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if needs_code:
        pass_second_factor(page, user)


# axe-core's levels that fail a page; "minor" and "moderate" ones are printed, not failed.
AXE_FAILING = ("serious", "critical")


def axe_violations(page, *, impacts=AXE_FAILING) -> list[str]:
    """What axe-core (the copy the axe-playwright-python wheel ships) finds wrong on the page as it
    is now, one line per rule and element, for the given impacts. Empty is a pass."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated rather than added as a <script>: the portal's Content-Security-Policy refuses
        # inline scripts, as it should, but not the browser's own evaluation.
        page.evaluate((files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in result["violations"]:
        if violation["impact"] not in impacts:
            continue
        for node in violation["nodes"]:
            target = json.dumps(node["target"])
            found.append(f"{violation['impact']} {violation['id']} at {target}: {violation['help']}")
    return found


def assert_accessible(page) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    found = axe_violations(page)
    assert not found, f"{page.url}:\n" + "\n".join(found)


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the window (0: it fits, nothing scrolls sideways)."""
    return page.evaluate("Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")
