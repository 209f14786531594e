"""Every operation of the API's schema, fuzzed with schemathesis: no 500, and every answer (its status
and its body) is one the schema documents.

The schema is the one the portal serves at /api/schema/; the requests go to the portal's WSGI
application in this process (the test database is this test's), with a recruiter's and a reviewer's
write tokens taking turns. Half of the examples name real objects (a submitted, scored invite with a
pull request), so the answers with bodies are checked too, not only the 404s.
"""

from datetime import timedelta
from itertools import count

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from portal.api.throttling import TokenRateThrottle
from portal.hosting.pulls import pull_open
from portal.invites.services import invite_submit
from portal.scoring.models import Run
from tests.support.api_schema import CHECKS, portal_wsgi_app, served_schema
from tests.support.candidates import candidate_commit
from tests.support.factories import store_verdicts

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def portal_app(db, monkeypatch):
    # Hundreds of requests a minute from one token: the limit is tested on its own.
    monkeypatch.setattr(TokenRateThrottle, "rate", "100000/min", raising=False)
    with portal_wsgi_app() as app:
        yield app


@pytest.fixture
def api_schema(portal_app, request):
    return served_schema(portal_app, request)


@pytest.fixture
def world(invite, tmp_path, recruiter_token, reviewer_token) -> dict:
    """Real objects to name: a submitted invite with scored runs, findings and a pull request."""
    candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"NOTES.md": "<b>why</b>\n"})
    store_verdicts(invite)
    pull = pull_open(invite=invite, branch="issue-1", title="Pages", description="Closes #1 <script>x</script>")
    invite_submit(invite=invite)
    return {
        "public_id": invite.public_id,
        "run_id": Run.objects.filter(invite=invite).first().pk,
        "pull_id": pull.pk,
        "tokens": [recruiter_token[1], reviewer_token[1]],
        "turn": count(),
    }


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    # Generous, so a busy machine never fails it: it catches a request that hangs, not a slow one.
    deadline=timedelta(seconds=10),
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented_and_never_500(case, world):
    turn = next(world["turn"])
    if turn % 2 == 0:
        for name in ("public_id", "run_id", "pull_id"):
            if name in (case.path_parameters or {}):
                case.path_parameters[name] = world[name]
    token = world["tokens"][turn // 2 % 2]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
