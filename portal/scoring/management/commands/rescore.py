from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.core.datadir import NoDataDirectory, has_data_dir
from portal.invites.models import Invite
from portal.scoring.services import Rescore, Retry, invite_rescore, invite_runs_resend


class Command(BaseCommand):
    help = (
        "Score the current branch heads (and starting point) of invites with the current grader. "
        "Runs by earlier grader versions are kept, so old and new results stay auditable."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--invite", help="One invite's id.")
        target.add_argument("--assessment", help="Every invite of an assessment (by slug).")
        again = parser.add_mutually_exclusive_group()
        again.add_argument(
            "--errors",
            action="store_const",
            const=Retry.ERRORS,
            dest="retry",
            help="Also queue again every run of this grader that ended in an error.",
        )
        again.add_argument(
            "--force",
            action="store_const",
            const=Retry.ALL,
            dest="retry",
            help="Also score again every finished run of this grader (current heads, starting point, integration); "
            "their results stay until the new ones replace them.",
        )
        again.add_argument(
            "--stuck",
            action="store_true",
            help="Only send again the runs in flight that a failure left behind (never sent, lost by the broker, "
            "on a silent worker, past the time limit); nothing else is queued. Every rescore does this first.",
        )

    def handle(self, *args, invite: str | None, assessment: str | None, retry: str | None, stuck: bool, **options):
        invites = Invite.objects.select_related("assessment_version")
        invites = (
            invites.filter(public_id=invite)
            if invite
            else invites.filter(assessment_version__assessment__slug=assessment)
        )
        if not invites.exists():
            raise CommandError(f"No invite {invite!r}." if invite else f"No invites for assessment {assessment!r}.")
        if not has_data_dir():
            raise CommandError(str(NoDataDirectory.for_command("rescore")))
        if stuck:
            resent = 0
            for one in invites:
                with transaction.atomic():
                    resent += invite_runs_resend(invite=one)
            self.stdout.write(f"{resent} stuck run(s) sent to the workers again.")
            return
        total = Rescore(queued=0, retried=0, kept=0)
        for one in invites:
            with transaction.atomic():
                done = invite_rescore(invite=one, retry=retry or Retry.NONE)
            total = Rescore(
                queued=total.queued + done.queued,
                retried=total.retried + done.retried,
                kept=total.kept + done.kept,
                resent=total.resent + done.resent,
            )
        self.stdout.write(str(total))
