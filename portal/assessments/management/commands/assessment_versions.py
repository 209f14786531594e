from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.assessments.models import Assessment
from portal.assessments.selectors import versions_with_invites


class Command(BaseCommand):
    help = (
        "List the loaded versions of every assessment (or of one, by slug), oldest first: label, content hash, "
        "when it was loaded, its invites (open / total) and which version new invites get."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", nargs="?", help="One assessment's slug.")

    def handle(self, *args, slug: str | None, **options):
        if slug is not None and not Assessment.objects.filter(slug=slug).exists():
            known = ", ".join(Assessment.objects.order_by("slug").values_list("slug", flat=True)) or "none"
            raise CommandError(f"No assessment {slug!r}; loaded: {known}.")
        versions = list(versions_with_invites(slug=slug))
        if not versions:
            self.stdout.write("No assessment is loaded yet (manage.py load_assessment <package>).")
            return
        width = max(len(v.label) for v in versions)
        for version in versions:
            latest = "  latest: new invites get it" if version.pk == version.latest_id else ""
            loaded = timezone.localtime(version.created_at).strftime("%Y-%m-%d %H:%M")
            self.stdout.write(
                f"{version.assessment.slug}  {version.label:<{width}}  {version.short_hash}  loaded {loaded}  "
                f"invites {version.invites_open} open / {version.invites_total}{latest}"
            )
