from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.demo import demo_accounts_seed

CHANGED = "(password changed since seeding; reset it with manage.py changepassword)"


class Command(BaseCommand):
    help = "Create demo accounts (admin, recruiter, reviewer) for a local run and print their passwords. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Seed even with DEBUG off (never on a portal people rely on)."
        )

    def handle(self, *args, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to create demo accounts with DEBUG off; pass --force if you really mean it.")
        credentials_file = settings.VAR_DIR / "demo-credentials.json"
        accounts = demo_accounts_seed(credentials_file=credentials_file)
        self.stdout.write(f"Demo accounts (sign in at {settings.PORTAL_BASE_URL}/accounts/login/):")
        for account in accounts:
            shown = (
                account.password
                if account.password_works
                else "(password changed since seeding; reset it with manage.py changepassword)"
            )
            state = "created" if account.created else "exists"
            self.stdout.write(f"  {account.username:<10} {shown:<20} {', '.join(account.roles)} [{state}]")
        self.stdout.write(f"Passwords are kept in {credentials_file} (owner-readable only).")
