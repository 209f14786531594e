"""A fully correct submission (the six reference fixes, each on its issue-<n> branch) carries no
warning or problem finding: neither git hygiene nor code quality finds fault with honest work."""

from __future__ import annotations

import pytest

from portal.hosting.services import repository_path
from portal.scoring.hygiene import INFO, hygiene_findings
from portal.scoring.quality import quality_signals
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit

pytestmark = pytest.mark.django_db(transaction=True)

TICKETS = range(1, 7)


def test_the_reference_fixes_on_their_branches_carry_no_warning_or_problem(invite, tmp_path):
    heads = {
        f"issue-{number}": candidate_commit(
            invite,
            tmp_path / "work",
            branch=f"issue-{number}",
            patch=ROOT / "assessment_app" / "reference" / f"ticket-{number}.patch",
            message=f"Fix: Resolve issue #{number} - reference fix",
        )
        for number in TICKETS
    }
    manifest = invite.assessment_version.manifest
    visible = sorted({node.split("::", 1)[0] for ticket in manifest["tickets"] for node in ticket["visible_tests"]})
    base = invite.repository.base_commit
    path = repository_path(invite)

    findings = hygiene_findings(
        repo_path=path,
        base=base,
        branches={"main": base, **heads},
        tickets=[ticket["number"] for ticket in manifest["tickets"]],
        visible_test_paths=visible,
    )
    quality = [quality_signals(repo_path=path, base=base, branch=name, head=head) for name, head in heads.items()]

    assert [(f.severity, f.message) for f in findings if f.severity != INFO] == []
    assert [(q.branch, q.new_lint, q.masking) for q in quality if q.new_lint or q.masking] == []
    assert all(q.files_changed and q.lint_error is None for q in quality)
