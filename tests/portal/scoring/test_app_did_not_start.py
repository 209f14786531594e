"""Why an app did not start, said to both sides: the exception it ended with and, when the branch
changed its dependencies, that they are never installed. Scored for real (sandbox and grader)."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from portal.scoring.analysis import analysis_update
from portal.scoring.models import Run
from portal.scoring.services import analysis_request
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import score_commit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PROJECT = ROOT / "assessment_app" / "project"
EXPECTED = (
    "the app did not start: ModuleNotFoundError: No module named 'orjson'; "
    "changes to requirements.txt are not installed: the app runs with the assessment's runtime"
)


def test_an_app_importing_a_package_it_added_to_requirements_says_so_everywhere(client, reviewer, created, tmp_path):
    invite = created.invite
    main = (PROJECT / "app" / "main.py").read_text()
    requirements = (PROJECT / "requirements.txt").read_text()
    sha = candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        changes={"app/main.py": "import orjson  # noqa: F401\n" + main, "requirements.txt": requirements + "orjson\n"},
        message="Fix: Resolve issue #2 - faster JSON",
    )

    run = score_commit(invite, sha)

    assert run.status == Run.Status.ERROR
    assert run.reason.splitlines()[0] == EXPECTED
    assert "the app exited with code 1 before it was ready" in run.reason  # how it ended, kept below

    analysis_request(invite=invite)
    analysis_update(invite_id=invite.pk)
    client.force_login(reviewer)
    page = client.get(reverse("invite_result", args=[invite.public_id])).content.decode()
    start = page.index('id="why-tickets-fail"')
    why = html.unescape(page[start : page.index("</section>", start)])
    assert "#2 " in why and "No hidden test failed" not in why
    assert f"No hidden test ran: {EXPECTED}" in why

    client.logout()
    runs = html.unescape(client.get(f"/i/{created.link_token}/runs").content.decode())
    assert f"could not run: {EXPECTED}" in runs
