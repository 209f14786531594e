from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from grader.manifest import ManifestError
from portal.assessments.services import assessment_validate
from sandbox import SandboxError


class Command(BaseCommand):
    help = (
        "Prove an assessment package by running it through the sandbox and the grader: the visible and "
        "hidden tests fail as shipped, each reference fix fixes its own ticket and no other, all fixes pass."
    )

    def add_arguments(self, parser):
        parser.add_argument("package", type=Path, help="The package folder (the one holding assessment.toml).")
        parser.add_argument("--progress", action="store_true", help="Print each step as it ends.")

    def handle(self, *args, package: Path, progress: bool, **options):
        if not (package / "assessment.toml").is_file():
            raise CommandError(f"{package} holds no assessment.toml.")
        try:
            report = assessment_validate(package_dir=package, progress=self.stdout.write if progress else None)
        except (ManifestError, SandboxError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report.table())
        if not report.ok:
            raise CommandError(f"{len(report.failed)} check(s) failed.")
