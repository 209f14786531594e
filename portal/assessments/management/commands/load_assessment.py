from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from grader.manifest import ManifestError
from portal.assessments.services import AssessmentInvalid, VersionLabelTaken, assessment_load
from portal.core.datadir import NoDataDirectory
from sandbox import SandboxError


class Command(BaseCommand):
    help = "Validate an assessment package and register it as a version named by its content hash."

    def add_arguments(self, parser):
        parser.add_argument("package", type=Path, help="The package folder (the one holding assessment.toml).")

    def handle(self, *args, package: Path, **options):
        if not (package / "assessment.toml").is_file():
            raise CommandError(f"{package} holds no assessment.toml.")
        try:
            version = assessment_load(package_dir=package, progress=self._say)
        except AssessmentInvalid as exc:
            self.stdout.write(exc.report.table())
            raise CommandError(f"Refused: {exc}") from exc
        except VersionLabelTaken as exc:
            raise CommandError(f"Refused: {exc}.") from exc
        except (ManifestError, SandboxError, NoDataDirectory) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Loaded {version.assessment.title} {version.label} as version {version.short_hash} "
            f"({sum(c['ok'] for c in version.validation['checks'])} checks passed)."
        )

    def _say(self, line: str) -> None:
        # Each line as it happens, also when stdout is a pipe: building and validating take minutes.
        self.stdout.write(line)
        self.stdout.flush()
