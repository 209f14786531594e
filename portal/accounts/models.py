from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A recruiter, reviewer or administrator. Candidates have no account.

    Roles are groups (see portal.accounts.roles); staff users are administrators.
    """

    email = models.EmailField("email address", blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [
            ("recruit", "Can manage candidates, invites and exports"),
            ("review", "Can review submissions and score the rubric"),
        ]

    @property
    def is_recruiter(self) -> bool:
        return self.has_perm("accounts.recruit")

    @property
    def is_reviewer(self) -> bool:
        return self.has_perm("accounts.review")


class PasswordResetRequest(models.Model):
    """A request of the public password reset form, kept for an hour to limit requests per address.

    In the database rather than the cache: the web server runs several processes, and the
    default cache is per process.
    """

    at = models.DateTimeField(db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["address", "at"])]

    def __str__(self) -> str:
        return f"{self.address or '?'} at {self.at:%Y-%m-%d %H:%M:%S}"
