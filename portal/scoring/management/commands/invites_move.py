from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.core.datadir import NoDataDirectory, has_data_dir
from portal.scoring.moves import MoveRefused, invites_move


class Command(BaseCommand):
    help = (
        "Move invites of an assessment to another of its versions (a corrected one): each moved invite's "
        "branch heads and starting point are scored again with the new version's hidden tests, and its "
        "timeline records the move. Candidates' repositories are not changed. Only open invites move, "
        "unless --submitted."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The assessment's slug.")
        parser.add_argument("--from", dest="source", required=True, help="The version to move from (label or hash).")
        parser.add_argument("--to", dest="target", required=True, help="The version to move to (label or hash).")
        parser.add_argument(
            "--invite",
            dest="public_ids",
            action="append",
            default=[],
            metavar="PUBLIC_ID",
            help="Only this invite (repeatable); otherwise every open invite on the --from version.",
        )
        parser.add_argument(
            "--submitted",
            action="store_true",
            help="Also move submitted invites (and those past their time): their reviewers then read the new "
            "version's results. Revoked invites never move.",
        )
        parser.add_argument("--by", metavar="USERNAME", help="The portal user the invites' timelines name as mover.")
        parser.add_argument("--dry-run", action="store_true", help="List what would move; change nothing.")

    def handle(self, *args, slug, source, target, public_ids, submitted, by, dry_run, **options):
        user = get_user_model().objects.filter(username=by).first() if by else None
        if by and user is None:
            raise CommandError(f"No user {by!r}.")
        if not dry_run and not has_data_dir():
            # Scoring again reads each invite's repository for its branch heads.
            raise CommandError(str(NoDataDirectory.for_command("invites_move")))
        try:
            moved = invites_move(
                slug=slug,
                source=source,
                target=target,
                public_ids=public_ids,
                submitted=submitted,
                by=user,
                dry_run=dry_run,
            )
        except MoveRefused as exc:
            raise CommandError(f"Refused: {exc}.") from exc
        for invite in moved.invites:
            self.stdout.write(f"  {invite.public_id}  {invite.candidate}  ({invite.get_status_display().lower()})")
        self.stdout.write(str(moved))
