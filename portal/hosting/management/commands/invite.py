import json
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
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


class Command(BaseCommand):
    help = (
        "Invite a candidate to an assessment and print the invite link, clone URL and git credentials, "
        "or with --send email the invitation instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--assessment", required=True, help="The assessment's slug (its latest version is used).")
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
