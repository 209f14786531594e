"""The portal's roles: Django groups and the permissions that define them.

A permission, not a group name, is what views check, so an administrator can
grant a single capability without inventing a new role. One user may hold both
roles; superusers hold every permission.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    group: str
    permission: str  # "app_label.codename"

    @property
    def codename(self) -> str:
        return self.permission.split(".", 1)[1]


RECRUITER = Role(group="Recruiter", permission="accounts.recruit")
REVIEWER = Role(group="Reviewer", permission="accounts.review")
ROLES = (RECRUITER, REVIEWER)
