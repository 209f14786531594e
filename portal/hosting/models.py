from django.db import models


class Repository(models.Model):
    """An invite's bare repository, as created: where it starts.

    The starting commit is recorded when the portal creates it, never read back from the
    history, so a candidate cannot replace it (for example by merging an unrelated root).
    """

    invite = models.OneToOneField("invites.Invite", on_delete=models.CASCADE, related_name="repository")
    base_commit = models.CharField(max_length=40, help_text="The portal's starting commit on main.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return f"repository of {self.invite.public_id} from {self.base_commit[:7]}"


class Push(models.Model):
    """One accepted `git push` to an invite's repository, as the server saw it."""

    invite = models.ForeignKey("invites.Invite", on_delete=models.CASCADE, related_name="pushes")
    at = models.DateTimeField(help_text="Server time when the push completed.")
    address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    # True on the push push_record returns inside its caller's transaction: that transaction holds
    # the invite's row lock, and ``invite`` was read with its repository and assessment version.
    invite_locked = False

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"push to {self.invite.public_id} at {self.at:%Y-%m-%d %H:%M:%S}"

    def updates(self) -> list["RefUpdate"]:
        """Its ref updates in order: the ones push_record has just written, else read from the database."""
        written = self.__dict__.get("_updates_written")
        return list(self.ref_updates.all()) if written is None else list(written)


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
    """A refused git login (or a wrong invite link), kept for PORTAL_GIT_AUTH_WINDOW to slow down
    guessing per (address, invite) and, for ids that do not exist, per address."""

    at = models.DateTimeField(db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    username = models.CharField(max_length=64, blank=True)
    known = models.BooleanField(
        default=False, help_text="The username was an existing invite's public id: a wrong password, not a guessed id."
    )

    class Meta:
        indexes = [models.Index(fields=["address", "at"]), models.Index(fields=["username", "at"])]

    def __str__(self) -> str:
        return f"{self.username or '?'} from {self.address or '?'} at {self.at:%Y-%m-%d %H:%M:%S}"


class PullRequest(models.Model):
    """A candidate's request to merge one pushed branch into main, with its description.

    Nothing is merged: it is how the candidate explains a branch to the reviewers. Commits and
    the diff are read from the repository when shown (the branch may move after opening);
    ``head_sha`` is the tip when it was opened or last edited, kept readable by the keep-refs
    even if the branch is deleted later.
    """

    invite = models.ForeignKey("invites.Invite", on_delete=models.CASCADE, related_name="pull_requests")
    number = models.PositiveIntegerField(help_text="1, 2, ... within the invite.")
    branch = models.CharField(max_length=255, help_text="The head branch, without refs/heads/.")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    closes = models.JSONField(default=list, blank=True, help_text="Ticket numbers the description closes.")
    head_sha = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["invite", "number"]
        constraints = [
            models.UniqueConstraint(fields=["invite", "number"], name="hosting_pull_number_per_invite"),
            models.UniqueConstraint(fields=["invite", "branch"], name="hosting_pull_branch_per_invite"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.branch} of {self.invite.public_id}"
