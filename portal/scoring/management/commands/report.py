import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from portal.invites.models import Invite
from portal.scoring.selectors import InviteResult, invite_result

MARKS = {True: "pass", False: "fail", None: "-"}


def result_json(result: InviteResult) -> dict:
    return {
        "invite_id": result.invite.public_id,
        "candidate": {"name": result.invite.candidate.name, "email": result.invite.candidate.email},
        "assessment": result.invite.assessment_version.assessment.slug,
        "version": result.invite.assessment_version.content_hash,
        "base": result.base,
        "pending": result.pending,
        "analysis": {
            "computed_at": result.analysed_at,
            "pending": result.analysis_pending,
            "error": result.analysis_error,
            "branches_left_out": result.branches_left_out,
        },
        "score": {"total": result.total, "possible": result.possible},
        "tickets": [asdict(t) for t in result.tickets],
        "branches": [
            {
                "branch": b.branch,
                "head": b.head,
                "run": None if b.run is None else asdict(b.run),
                "tickets": {str(n): asdict(c) for n, c in b.cells.items()},
                "regressions": list(b.regressions),
                "other_tickets_changed": list(b.other_tickets_changed),
            }
            for b in result.branches
        ],
        "integrated": None
        if result.integrated is None
        else {
            "commit": result.integrated.head,
            "merged": list(result.integration.merged),
            "tickets": {str(n): asdict(c) for n, c in result.integrated.cells.items()},
        },
        "findings": [asdict(f) for f in result.findings],
        "quality": [asdict(q) for q in result.quality],
    }


class Command(BaseCommand):
    help = "Print an invite's ticket x branch matrix, git-hygiene findings and score."

    def add_arguments(self, parser):
        parser.add_argument("invite_id")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, invite_id: str, json: bool, **options):
        invite = (
            Invite.objects.select_related("candidate", "assessment_version__assessment")
            .filter(public_id=invite_id)
            .first()
        )
        if invite is None:
            raise CommandError(f"No invite {invite_id!r}.")
        result = invite_result(invite=invite)
        if json:
            self.stdout.write(_dumps(result_json(result)))
            return
        self._print(result)

    def _print(self, result: InviteResult) -> None:
        write = self.stdout.write
        write(f"{result.invite.candidate} - {result.title} ({result.invite.assessment_version.short_hash})")
        write(f"Score: {result.total}/{result.possible}" + ("  (scoring still in progress)" if result.pending else ""))
        if not result.analysed:
            write("No analysis yet: nothing was pushed, or the first analysis is still being computed.")
        write("")
        names = [b.branch for b in result.branches]
        width = max([len(n) for n in names] + [6])
        write("ticket".ljust(8) + "".join(n.ljust(width + 2) for n in names) + "verdict")
        for ticket in result.tickets:
            row = f"#{ticket.number}".ljust(8)
            for branch in result.branches:
                row += MARKS[branch.cells[ticket.number].passed].ljust(width + 2)
            verdict = f"{MARKS[ticket.passed]} on {ticket.branch}" if ticket.branch else "no issue branch"
            write(row + f"{verdict} ({ticket.earned}/{ticket.points})")
        if result.integrated is not None:
            passed = [n for n, c in result.integrated.cells.items() if c.passed]
            merged = " + ".join(result.integration.merged)
            write(f"integrated ({merged}): tickets passing together: {', '.join(f'#{n}' for n in passed) or 'none'}")
        for branch in result.branches:
            if branch.run is not None and branch.run.status == "error":
                write(f"{branch.branch}: run error: {branch.run.reason}")
            if branch.regressions:
                write(f"{branch.branch}: regressions: {', '.join(branch.regressions)}")
        write("")
        write(f"Findings ({len(result.findings)}):")
        for finding in result.findings:
            where = f" [{finding.ref}]" if finding.ref else ""
            write(f"  {finding.severity:<8} {finding.kind}{where}: {finding.message}")
        if result.quality:
            write("")
            write("Changes:")
            for signals in result.quality:
                size = f"+{signals.lines_added}/-{signals.lines_removed}"
                write(
                    f"  {signals.branch}: {signals.files_changed} files, {size}, "
                    f"{len(signals.new_lint)} new lint findings"
                )


def _dumps(data: dict) -> str:
    return json.dumps(data, indent=2, default=str)
