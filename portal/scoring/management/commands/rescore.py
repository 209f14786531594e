from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.invites.models import Invite
from portal.scoring.services import invite_rescore
from portal.scoring.version import GRADER_VERSION


class Command(BaseCommand):
    help = (
        "Score the current branch heads (and starting point) of invites with the current grader. "
        "Runs by earlier grader versions are kept, so old and new results stay auditable."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--invite", help="One invite's id.")
        target.add_argument("--assessment", help="Every invite of an assessment (by slug).")

    def handle(self, *args, invite: str | None, assessment: str | None, **options):
        invites = Invite.objects.select_related("assessment_version")
        invites = (
            invites.filter(public_id=invite)
            if invite
            else invites.filter(assessment_version__assessment__slug=assessment)
        )
        if not invites.exists():
            raise CommandError(f"No invite {invite!r}." if invite else f"No invites for assessment {assessment!r}.")
        queued = existing = 0
        for one in invites:
            with transaction.atomic():
                new, old = invite_rescore(invite=one)
            queued += new
            existing += old
        self.stdout.write(
            f"Grader {GRADER_VERSION}: {queued} run(s) queued, {existing} commit(s) already scored by this grader."
        )
