from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from grader.manifest import ManifestError, load_manifest
from portal.assessments.models import Assessment
from portal.assessments.services import PackageFetchError, assessment_runtime, version_package
from sandbox import SandboxError


class Command(BaseCommand):
    help = "Build the sandbox runtime of an assessment (its pinned requirements), or report the one already built."

    def add_arguments(self, parser):
        parser.add_argument("assessment", help="A loaded assessment's slug, or a package folder.")

    def handle(self, *args, assessment: str, **options):
        package = Path(assessment)
        if not (package / "assessment.toml").is_file():
            loaded = Assessment.objects.filter(slug=assessment).first()
            if loaded is None or loaded.latest_version is None:
                raise CommandError(f"{assessment!r} is neither a loaded assessment's slug nor a package folder.")
        try:
            if not (package / "assessment.toml").is_file():
                package = version_package(loaded.latest_version)
            runtime = assessment_runtime(manifest=load_manifest(package))
        except (ManifestError, SandboxError, PackageFetchError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Runtime ready: {runtime.path}")
