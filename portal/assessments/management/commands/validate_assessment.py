from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from grader.manifest import ManifestError
from portal.assessments.services import assessment_validate
from sandbox import RuntimeBuildError, SandboxError


def _runs(text: str) -> int:
    """A --flake-runs value: a whole number from 0."""
    if not text.isdigit():
        raise CommandError(f"--flake-runs: not a whole number from 0: {text!r}")
    return int(text)


class Command(BaseCommand):
    help = (
        "Prove an assessment package by running it through the sandbox and the grader: the visible and "
        "hidden tests fail as shipped, each reference fix fixes its own ticket and no other, all fixes pass "
        "(and keep passing: the search for flaky tests)."
    )

    def add_arguments(self, parser):
        parser.add_argument("package", type=Path, help="The package folder (the one holding assessment.toml).")
        parser.add_argument("--progress", action="store_true", help="Print each step as it ends.")
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="Print each step as it ends, every detail uncut, and a failed runtime build's whole output.",
        )
        parser.add_argument(
            "--flake-runs",
            type=_runs,
            help="Runs of the search for flaky tests (default: PORTAL_VALIDATION_FLAKE_RUNS, else the package's).",
        )

    def handle(self, *args, package: Path, progress: bool, verbose: bool, flake_runs: int | None, **options):
        if not (package / "assessment.toml").is_file():
            raise CommandError(f"{package} holds no assessment.toml.")
        try:
            report = assessment_validate(
                package_dir=package,
                progress=self.stdout.write if progress or verbose else None,
                flake_runs=flake_runs,
            )
        except RuntimeBuildError as exc:
            if verbose and exc.output:
                self.stdout.write(f"What the failed step printed:\n{exc.output}")
            raise CommandError(str(exc)) from exc
        except (ManifestError, SandboxError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report.table(verbose=verbose))
        if not report.ok:
            raise CommandError(f"{len(report.failed)} check(s) failed.")
