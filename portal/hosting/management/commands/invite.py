import argparse
import json
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.core.validators import validate_email
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from gitplumbing import GitError
from portal.assessments.models import Assessment
from portal.core.datadir import NoDataDirectory
from portal.hosting.services import clone_url, invite_open
from portal.invites.emails import invitation_queue
from portal.invites.services import candidate_get_or_create


def _deadline(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--deadline {value!r} is not an ISO date and time, such as 2026-12-01T17:00") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment <= timezone.now():
        raise CommandError(f"--deadline {value} is in the past.")
    return moment


def assessments_epilog() -> str:
    """The assessments --assessment accepts, one per line, read from the database when --help is printed.

    A database that is not migrated yet, or not reachable, is said in one line instead of a traceback.
    """
    try:
        if Assessment._meta.db_table not in connection.introspection.table_names():
            return "Installed assessments: none yet, the database is not migrated (run: manage.py migrate)."
        installed = list(
            Assessment.objects.filter(versions__isnull=False).distinct().order_by("slug").values_list("slug", "title")
        )
    except DatabaseError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"Installed assessments: cannot be listed, the database is not reachable ({reason})."
    if not installed:
        return "Installed assessments: none yet (load one with: manage.py load_assessment <folder>)."
    width = max(len(slug) for slug, _title in installed)
    lines = [f"  {slug.ljust(width)}  {' '.join(title.split())}" for slug, title in installed]
    return "Installed assessments (--assessment takes the slug):\n" + "\n".join(lines)


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's order of options, with the epilog's lines kept as written (one assessment a line)."""


class Command(BaseCommand):
    help = (
        "Invite a candidate to an assessment and print the invite link, clone URL and git credentials,\n"
        "or with --send email the invitation instead. Links are built on PORTAL_BASE_URL."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, formatter_class=_HelpFormatter, **kwargs)
        format_help = parser.format_help

        def format_help_with_assessments() -> str:
            # Read only when help is printed: an ordinary invite needs no extra query, and --help
            # works before the database is migrated.
            parser.epilog = assessments_epilog()
            return format_help()

        parser.format_help = format_help_with_assessments
        return parser

    def add_arguments(self, parser):
        parser.add_argument(
            "--assessment", required=True, help="The assessment's slug (its latest version is used); listed below."
        )
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--deadline", help="No pushes after this ISO date-time (server time zone if none given).")
        parser.add_argument("--time-limit-hours", type=float, help="Hours allowed from the first clone.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
        parser.add_argument(
            "--send",
            action="store_true",
            help="Email the invitation (a worker sends it) instead of printing the link and git password.",
        )

    def handle(self, *args, **options):
        try:
            validate_email(options["email"])
        except ValidationError:
            raise CommandError(f"--email {options['email']!r} is not an email address.") from None
        if not options["name"].strip():
            raise CommandError("--name must not be empty.")
        assessment = Assessment.objects.filter(slug=options["assessment"]).first()
        if assessment is None or assessment.latest_version is None:
            known = ", ".join(Assessment.objects.values_list("slug", flat=True)) or "none loaded"
            raise CommandError(f"No assessment {options['assessment']!r} (known: {known}).")
        time_limit = None
        if options["time_limit_hours"] is not None:
            if options["time_limit_hours"] <= 0:
                raise CommandError("--time-limit-hours must be positive.")
            time_limit = timedelta(hours=options["time_limit_hours"])
        deadline = _deadline(options["deadline"]) if options["deadline"] else None

        try:
            with transaction.atomic():  # a failure leaves no candidate, invite or repository behind
                candidate = candidate_get_or_create(name=options["name"].strip(), email=options["email"])
                created = invite_open(
                    candidate=candidate,
                    assessment_version=assessment.latest_version,
                    deadline=deadline,
                    time_limit=time_limit,
                )
                email = invitation_queue(invite=created.invite) if options["send"] else None
        except (GitError, NoDataDirectory, OSError) as exc:
            raise CommandError(f"The invite could not be created: {exc}") from exc
        invite = created.invite
        result = {
            "invite_id": invite.public_id,
            "candidate": {"name": candidate.name, "email": candidate.email},
            "assessment": assessment.slug,
            "version": invite.assessment_version.content_hash,
            "link": settings.PORTAL_BASE_URL + reverse("invite_page", args=[created.link_token]),
            "clone_url": clone_url(invite),
            "git_username": invite.public_id,
            "git_password": created.git_token,
            "deadline": invite.deadline.isoformat() if invite.deadline else None,
            "time_limit_hours": options["time_limit_hours"],
        }
        if email is not None:
            # The email carries a new link and so a new password: these would stop working when it goes out.
            del result["link"], result["git_password"]
            result["email"] = {"id": email.pk, "to": email.to, "status": email.status}
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(f"Invited {candidate} to {assessment.title} ({invite.assessment_version.short_hash}).")
        if email is not None:
            self.stdout.write(f"  Invitation:   queued to {email.to} (email {email.pk}); a worker sends it.")
            self.stdout.write(f"  Clone URL:    {result['clone_url']}")
            self.stdout.write(f"  Git username: {result['git_username']}")
            self.stdout.write("The link and git password are in the email only; the portal keeps only their hashes.")
            return
        self.stdout.write(f"  Invite link:  {result['link']}")
        self.stdout.write(f"  Clone URL:    {result['clone_url']}")
        self.stdout.write(f"  Git username: {result['git_username']}")
        self.stdout.write(f"  Git password: {result['git_password']}")
        self.stdout.write("The link and password are shown only now; the portal keeps only their hashes.")
