"""Known leaked or public solutions of an assessment, from the shell.

    manage.py known_solution add <assessment-slug> <version-label-or-hash> <path> --name "public gist" [--url URL]
    manage.py known_solution list [<assessment-slug>]
    manage.py known_solution remove <id>

``path`` is a patch against the shipped project, or a folder holding the solution's project tree.
Every submission of the assessment is compared with a solution once it is added (by a worker).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.integrity.models import KnownSolution, SimilarityMatch
from portal.integrity.services import KnownSolutionError, known_solution_add, known_solution_remove, version_find


class Command(BaseCommand):
    help = "Add, list and remove known solutions: every submission of the assessment is compared with them."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True, metavar="{add,list,remove}")
        add = commands.add_parser("add", help="Add a solution found in the wild (a patch or a project folder).")
        add.add_argument("slug", help="The assessment's slug.")
        add.add_argument("version", help="The version's label, or the start of its content hash.")
        add.add_argument("path", type=Path, help="A patch against the shipped project, or a project folder.")
        add.add_argument("--name", required=True, help="Where it was found, for example 'public gist, 2026-11'.")
        add.add_argument("--url", default="", help="Its address, if it has one.")
        listing = commands.add_parser("list", help="List known solutions and how many submissions match each.")
        listing.add_argument("slug", nargs="?", help="Only this assessment's.")
        remove = commands.add_parser("remove", help="Remove a known solution and its matches, by id (see list).")
        remove.add_argument("id", type=int)

    def handle(self, *args, action: str, **options):
        try:
            return getattr(self, f"_{action}")(**options)
        except KnownSolutionError as exc:
            raise CommandError(str(exc)) from None

    def _add(self, *, slug, version, path, name, url, **options):
        found = version_find(slug=slug, version=version)
        solution = known_solution_add(version=found, name=name, source=path, source_url=url)
        self.stdout.write(
            f"Added known solution {solution.pk} “{solution.name}” to {found}: {len(solution.files)} changed "
            f"file(s), {len(solution.fingerprints)} fingerprints. Every submission of {slug} is compared with it."
        )

    def _list(self, *, slug, **options):
        solutions = KnownSolution.objects.select_related("assessment_version__assessment").order_by("pk")
        if slug:
            solutions = solutions.filter(assessment_version__assessment__slug=slug)
        for solution in solutions:
            matches = SimilarityMatch.objects.filter(known_solution=solution).count()
            self.stdout.write(
                f"{solution.pk}\t{solution.assessment_version}\t{solution.name}\t{solution.source_url or '-'}\t"
                f"{len(solution.files)} file(s)\t{matches} matching submission(s)"
            )

    def _remove(self, *, id, **options):
        solution = known_solution_remove(known_solution_id=id)
        self.stdout.write(f"Removed known solution {id} “{solution.name}” and its matches.")
