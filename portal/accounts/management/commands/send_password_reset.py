from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.models import User
from portal.accounts.services import password_link_lifetime, password_reset_send


def delivered_to(email: str) -> str:
    """Where an email to this address ends up, for the command's one-line report."""
    if settings.EMAIL_BACKEND == "portal.core.mail.ConsoleOutboxBackend":
        return f"{email} (EMAIL_HOST is not set: printed above and kept in {settings.EMAIL_OUTBOX_DIR})"
    return email


def _user(value: str) -> User:
    exact = User.objects.filter(username=value).first() or User.objects.filter(username__iexact=value).first()
    if exact:
        return exact
    by_email = list(User.objects.filter(email__iexact=value).order_by("username"))
    if not by_email:
        raise CommandError(f"No user with the username or email address {value!r}.")
    if len(by_email) > 1:
        names = ", ".join(user.username for user in by_email)
        raise CommandError(f"{value} belongs to several users ({names}); name one by username.")
    return by_email[0]


class Command(BaseCommand):
    help = (
        "Email a user a link to choose a new password: the same email as 'Forgot your password?' on the "
        "sign-in page. The current password keeps working until the link is used."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", metavar="username-or-email")

    def handle(self, *args, user: str, **options):
        found = _user(user)
        if not found.is_active:
            raise CommandError(f"User {found.username!r} is inactive; activate the account in the admin first.")
        if not found.email:
            raise CommandError(f"User {found.username!r} has no email address; set one in the admin first.")
        try:
            # A user who never chose a password gets the welcome wording again.
            password_reset_send(user=found, new_account=not found.has_usable_password())
        except OSError as exc:  # smtplib's errors are OSErrors too
            raise CommandError(f"Could not send the email to {found.email}: {exc}") from exc
        self.stdout.write(
            f"Emailed {found.username} a link to choose a new password, valid once for {password_link_lifetime()}, "
            f"to {delivered_to(found.email)}."
        )
