from django.core.management.base import BaseCommand, CommandError

from portal.accounts.models import User
from portal.accounts.second_factor import second_factor_required, second_factor_reset


class Command(BaseCommand):
    help = (
        "Remove a user's second factor (their authenticator app), for a lost or replaced phone: their next "
        "sign-in leads through enrolment again, and sessions verified with the old app must verify again."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = User.objects.filter(username=username).first() or User.objects.filter(username__iexact=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        removed = second_factor_reset(user=user)
        if not removed:
            self.stdout.write(f"{user.username} has no second factor: nothing to remove.")
            return
        apps = "authenticator app" if removed == 1 else f"{removed} authenticator apps"
        after = (
            "they set up a new one at their next sign-in."
            if second_factor_required(user)
            else "their account does not need one (PORTAL_2FA_FOR)."
        )
        self.stdout.write(f"Removed the {apps} of {user.username}: {after}")
