from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.demo import demo_accounts_seed
from portal.assessments.services import BUILT_IN_PACKAGE, AssessmentInvalid, assessment_load
from sandbox import SandboxError

CHANGED = "(password changed since seeding; reset it with manage.py changepassword)"


class Command(BaseCommand):
    help = (
        "Create demo accounts (admin, recruiter, reviewer) for a local run and print their passwords, "
        "and load the built-in assessment. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Seed even with DEBUG off (never on a portal people rely on)."
        )
        parser.add_argument("--accounts-only", action="store_true", help="Skip loading the built-in assessment.")

    def handle(self, *args, force: bool, accounts_only: bool, **options):
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
        if not accounts_only:
            self._load_built_in_assessment()

    def _load_built_in_assessment(self) -> None:
        self.stdout.write("Loading the built-in assessment (the first time builds its runtime and validates it)...")
        try:
            version = assessment_load(package_dir=BUILT_IN_PACKAGE)
        except AssessmentInvalid as exc:
            self.stdout.write(exc.report.table())
            raise CommandError(f"The built-in assessment failed validation: {exc}") from exc
        except SandboxError as exc:
            # The portal still runs; scoring and invites need the assessment, so say what is missing.
            self.stderr.write(f"Could not load the built-in assessment: {exc}")
            return
        checks = version.validation.get("checks", [])
        self.stdout.write(
            f"Assessment: {version.assessment.title} {version.label} ({version.short_hash}), "
            f"{sum(c['ok'] for c in checks)}/{len(checks)} validation checks passed."
        )
