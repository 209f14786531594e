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


class ApiToken(models.Model):
    """A key to the REST API (portal/api), shown once when it is made and stored only as a hash.

    A *personal* token acts as its user, with that user's roles at the time of each request, so a
    user who loses a role or is deactivated loses it through their tokens too. An *integration*
    token belongs to no person: an administrator makes it for another system (an ATS, a script)
    and gives it the roles it acts with. Either kind is scoped: *read* allows only reads, *write*
    allows changes as well. Revoking is immediate; a revoked or expired token is refused with 401.
    """

    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        INTEGRATION = "integration", "Integration"

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    # The owner of a personal token; empty for an integration token.
    user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    # The permissions ("accounts.recruit", "accounts.review") an integration token acts with.
    permissions = models.JSONField(default=list, blank=True)
    # The first characters of the token, shown in lists so a person can tell their tokens apart.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="api_tokens_made"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="personal", user__isnull=False) | models.Q(kind="integration", user__isnull=True)
                ),
                name="api_token_owner_matches_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class SsoIdentity(models.Model):
    """A user's account at the identity provider (portal/accounts/sso.py): the issuer and its ``sub``.

    The ``sub`` claim is the provider's stable id of the person; an email address can change
    hands, so it is used only once, to link an existing portal user at their first sign-in.
    """

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="sso_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique_subject")]
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
