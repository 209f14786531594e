"""Demo accounts for a local run: one administrator, one recruiter, one reviewer.

Passwords are random on first creation and remembered in var/demo-credentials.json
(readable by its owner only) so that re-running the seed prints them again.
"""

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from portal.accounts.models import User
from portal.accounts.roles import RECRUITER, REVIEWER, Role
from portal.accounts.services import user_grant_role


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    roles: tuple[str, ...]
    created: bool
    password_works: bool


# username, full name (emails and pages name people, not usernames), administrator, roles
_DEMO_USERS: tuple[tuple[str, tuple[str, str], bool, tuple[Role, ...]], ...] = (
    ("admin", ("Alex", "Admin"), True, (RECRUITER, REVIEWER)),
    ("recruiter", ("Rita", "Recruiter"), False, (RECRUITER,)),
    ("reviewer", ("Rob", "Reviewer"), False, (REVIEWER,)),
)


def _load(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _save(path: Path, passwords: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(passwords, handle, indent=2)


@transaction.atomic
def demo_accounts_seed(*, credentials_file: Path) -> list[DemoAccount]:
    """Create the demo accounts that are missing; leave existing ones as they are."""
    passwords = _load(credentials_file)
    accounts = []
    for username, (first_name, last_name), is_admin, roles in _DEMO_USERS:
        user = User.objects.filter(username=username).first()
        created = user is None
        if created:
            password = secrets.token_urlsafe(12)
            user = User(
                username=username,
                first_name=first_name,
                last_name=last_name,
                email=f"{username}@example.com",
                is_staff=is_admin,
                is_superuser=is_admin,
            )
            user.set_password(password)
            user.save()
            passwords[username] = password
        for role in roles:
            user_grant_role(user=user, role=role)
        password = passwords.get(username, "")
        accounts.append(
            DemoAccount(
                username=username,
                password=password,
                roles=tuple(r.group for r in roles) + (("Administrator",) if is_admin else ()),
                created=created,
                password_works=bool(password) and user.check_password(password),
            )
        )
    _save(credentials_file, passwords)
    return accounts
