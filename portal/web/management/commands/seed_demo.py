from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.demo import demo_accounts_seed
from portal.accounts.models import User
from portal.assessments.models import AssessmentVersion
from portal.assessments.services import BUILT_IN_PACKAGES, AssessmentInvalid, VersionLabelTaken, assessment_load
from portal.web.demo import DEMO_DOMAIN, DemoSeedError, demo_pipeline_seed
from sandbox import SandboxError

CHANGED = "(password changed since seeding; reset it with manage.py changepassword)"
# The demo account that invites the demo candidates (their timeline says who did).
DEMO_INVITER = "recruiter"


class Command(BaseCommand):
    help = (
        "Create demo accounts (admin, recruiter, reviewer) for a local run and print their passwords, "
        "load the built-in assessments, and invite demo candidates to the first at every stage of the pipeline "
        f"(emails at {DEMO_DOMAIN}). Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Seed even with DEBUG off (never on a portal people rely on)."
        )
        parser.add_argument(
            "--accounts-only", action="store_true", help="Skip loading the built-in assessments and the candidates."
        )
        parser.add_argument("--no-candidates", action="store_true", help="Skip the demo candidates.")

    def handle(self, *args, force: bool, accounts_only: bool, no_candidates: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to create demo accounts with DEBUG off; pass --force if you really mean it.")
        credentials_file = settings.VAR_DIR / "demo-credentials.json"
        accounts = demo_accounts_seed(credentials_file=credentials_file)
        self.stdout.write(f"Demo accounts (sign in at {settings.PORTAL_BASE_URL}/accounts/login/):")
        for account in accounts:
            shown = account.password if account.password_works else CHANGED
            state = "created" if account.created else "exists"
            self.stdout.write(f"  {account.username:<10} {shown:<20} {', '.join(account.roles)} [{state}]")
        self.stdout.write(f"Passwords are kept in {credentials_file} (owner-readable only).")
        if accounts_only:
            return
        # The demo candidates take the first; recruiters choose between them when they invite.
        versions = [self._load_built_in_assessment(package) for package in BUILT_IN_PACKAGES]
        if versions[0] is not None and not no_candidates:
            self._seed_candidates(versions[0])

    def _load_built_in_assessment(self, package) -> AssessmentVersion | None:
        self._say(
            f"Loading the built-in assessment {package.name} (the first time builds its runtime and validates it)..."
        )
        try:
            version = assessment_load(package_dir=package, progress=lambda line: self._say(f"  {line}"))
        except AssessmentInvalid as exc:
            self.stdout.write(exc.report.table())
            raise CommandError(f"The built-in assessment {package.name} failed validation: {exc}") from exc
        except VersionLabelTaken as exc:
            raise CommandError(f"The built-in assessment {package.name} was not loaded: {exc}.") from exc
        except SandboxError as exc:
            # The portal still runs; scoring and invites need the assessment, so say what is missing.
            self.stderr.write(f"Could not load the built-in assessment {package.name}: {exc}")
            return None
        checks = version.validation.get("checks", [])
        self.stdout.write(
            f"Assessment: {version.assessment.title} {version.label} ({version.short_hash}), "
            f"{sum(c['ok'] for c in checks)}/{len(checks)} validation checks passed."
        )
        return version

    def _say(self, line: str) -> None:
        # Each line as it happens, also when stdout is a pipe (`make run | tee`): the first load takes minutes.
        self.stdout.write(line)
        self.stdout.flush()

    def _seed_candidates(self, version: AssessmentVersion) -> None:
        inviter = User.objects.filter(username=DEMO_INVITER).first()
        try:
            candidates = demo_pipeline_seed(version=version, created_by=inviter)
        except DemoSeedError as exc:
            # Accounts and the assessment are in place: the portal is usable without the demo pipeline.
            self.stderr.write(f"Could not seed the demo candidates: {exc}")
            return
        self.stdout.write(f"Demo candidates (at {DEMO_DOMAIN}, on the recruiter dashboard):")
        for candidate in candidates:
            state = "created" if candidate.created else "exists"
            self.stdout.write(f"  {candidate.name:<16} {candidate.email:<32} {candidate.stage:<10} [{state}]")
        queued = sum(candidate.runs_queued for candidate in candidates)
        if queued:
            self.stdout.write(f"{queued} scoring runs queued; the worker scores them in about a minute.")
