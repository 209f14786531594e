from django.db import models


class Push(models.Model):
    """One accepted `git push` to an invite's repository, as the server saw it."""

    invite = models.ForeignKey("invites.Invite", on_delete=models.CASCADE, related_name="pushes")
    at = models.DateTimeField(help_text="Server time when the push completed.")
    address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"push to {self.invite.public_id} at {self.at:%Y-%m-%d %H:%M:%S}"


class RefUpdate(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Fast-forward"
        FORCED = "forced", "Force-pushed"
        DELETED = "deleted", "Deleted"

    push = models.ForeignKey(Push, on_delete=models.CASCADE, related_name="ref_updates")
    ref = models.CharField(max_length=255)
    old_sha = models.CharField(max_length=40)
    new_sha = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.ref} {self.old_sha[:7]}..{self.new_sha[:7]} ({self.kind})"

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None


class AuthFailure(models.Model):
    """A refused git login, kept briefly to rate-limit guessing per address and per invite."""

    at = models.DateTimeField(db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    username = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["address", "at"]), models.Index(fields=["username", "at"])]

    def __str__(self) -> str:
        return f"{self.username or '?'} from {self.address or '?'} at {self.at:%Y-%m-%d %H:%M:%S}"
