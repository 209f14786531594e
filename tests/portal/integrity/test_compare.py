"""A submission is compared with the other submissions of its assessment once it is submitted: real
repositories, the real hook and task (run in this process by the ``broker`` fixture), real copydetect."""

import pytest

from portal.integrity.models import SimilarityMatch, SubmissionPrint
from portal.scoring.analysis import analysis_update
from portal.scoring.services import analysis_request
from tests.conftest import ROOT
from tests.portal.integrity.samples import (
    COPIED,
    COPIED_ROUTE,
    LEAKED,
    LEAKED_ROUTE,
    OWN,
    candidate,
    line_of,
    submit,
)
from tests.support.candidates import candidate_commit

ROUTE = "app/api/routes/reports.py"
FIX_2 = ROOT / "assessment_app" / "reference" / "ticket-2.patch"


def _match(invite, other, ref: str = "") -> SimilarityMatch | None:
    return SimilarityMatch.objects.filter(invite=invite, other_invite=other, ref=ref).first()


@pytest.mark.django_db
def test_two_candidates_sharing_a_solution_are_matched_both_ways(assessment_version, broker, tmp_path, capsys):
    # The first one split it over two tickets' branches (read from the analysis' integrated commit);
    # the second renamed every name and moved the functions, on one branch.
    first = candidate(
        assessment_version,
        "Ann",
        tmp_path,
        **{"issue-1": {ROUTE: LEAKED[ROUTE]}, "issue-2": {"app/crud.py": LEAKED["app/crud.py"]}},
    )
    analysis_request(invite=first)
    integrated = analysis_update(invite_id=first.pk).result["integration"]["commit"]
    assert integrated is not None
    second = candidate(assessment_version, "Bob", tmp_path, **{"issue-1": COPIED})

    assert submit(first, broker) == ["integrity.compare"]
    assert SimilarityMatch.objects.count() == 0  # nobody to compare with yet
    submit(second, broker)

    there, back = _match(second, first), _match(first, second)
    assert there.score >= 0.7 and there.score == back.score and there.shared == back.shared
    print(f"\nshared solution, renamed and moved: score {there.score:.2f}, {there.shared} shared fingerprints")
    # From the first candidate's side: their as_row is the second one's to_dict, moved.
    leaked, copied = line_of(LEAKED_ROUTE, "def as_row"), line_of(COPIED_ROUTE, "def to_dict")
    [passage] = [p for p in back.passages if p["path"] == ROUTE and p["lines"][0] <= leaked <= p["lines"][1]]
    assert passage["other_path"] == ROUTE and passage["other_lines"][0] <= copied <= passage["other_lines"][1]
    assert any(p["path"] == "app/crud.py" and "list_overdue_loans" in p["text"] for p in back.passages)
    assert SubmissionPrint.objects.get(invite=first, ref="").commit == integrated


@pytest.mark.django_db
def test_two_independent_minimal_fixes_are_not_matched(assessment_version, broker, tmp_path, capsys):
    # Both apply ticket 2's one-line reference fix; the second with spaces of their own and a comment.
    first = candidate(assessment_version, "Ann", tmp_path, **{"issue-2": FIX_2})
    crud = (ROOT / "assessment_app" / "project" / "app" / "crud.py").read_text()
    own = crud.replace(
        "return db.execute(select(Book).where(Book.id == book_id)).scalar_one()",
        "return db.get( Book,book_id )  # a removed book is None, not an error",
    )
    second = candidate(assessment_version, "Bob", tmp_path, **{"issue-2": {"app/crud.py": own}})

    submit(first, broker)
    submit(second, broker)

    prints = {(p.invite_id, p.ref): p for p in SubmissionPrint.objects.all()}
    branch = "refs/heads/issue-2"
    assert set(prints) == {(first.pk, ""), (second.pk, ""), (first.pk, branch), (second.pk, branch)}
    assert prints[second.pk, ""].files["app/crud.py"] == own  # read, and all of it boilerplate
    assert all(p.fingerprints == [] for p in prints.values())
    assert SimilarityMatch.objects.count() == 0  # neither whole nor on the ticket's branch


@pytest.mark.django_db
def test_the_third_submission_is_compared_with_the_first_two_both_ways(assessment_version, broker, tmp_path):
    ann = candidate(assessment_version, "Ann", tmp_path, **{"issue-1": LEAKED})
    bob = candidate(assessment_version, "Bob", tmp_path, **{"issue-1": OWN})
    cid = candidate(assessment_version, "Cid", tmp_path, **{"issue-1": COPIED})
    submit(ann, broker)
    submit(bob, broker)
    assert SimilarityMatch.objects.count() == 0  # written independently

    submit(cid, broker)

    pairs = set(SimilarityMatch.objects.values_list("invite", "other_invite", "ref"))
    both = {(cid.pk, ann.pk), (ann.pk, cid.pk)}
    assert pairs == {(*pair, ref) for pair in both for ref in ("", "refs/heads/issue-1")}  # whole, and the branch
    honest = [
        (a, b) for a, b in ((ann, bob), (bob, cid)) if _match(a, b) is None and _match(b, a) is None
    ]  # compared, below the floor: no row
    assert len(honest) == 2


@pytest.mark.django_db
def test_a_rerun_or_a_resubmission_replaces_rows_and_never_duplicates(assessment_version, broker, tmp_path):
    ann = candidate(assessment_version, "Ann", tmp_path, **{"issue-1": LEAKED})
    cid = candidate(assessment_version, "Cid", tmp_path, **{"issue-1": COPIED})
    submit(ann, broker)
    submit(cid, broker)
    first = _match(cid, ann)

    broker.tasks.append(("integrity.compare", {"invite_id": cid.pk}))
    broker.run()
    # One row per direction and ref (the whole submissions, their issue-1 branches), one print per ref.
    assert SimilarityMatch.objects.count() == 4 and SubmissionPrint.objects.count() == 4
    assert _match(cid, ann).score == first.score

    # Reopened, Cid replaces the copy with their own work and submits again: the match goes.
    cid.status = cid.Status.ACTIVE
    cid.save(update_fields=["status"])
    candidate_commit(cid, tmp_path / "cid-again", branch="issue-1", changes=OWN, message="Own work")
    submit(cid, broker)

    assert SimilarityMatch.objects.count() == 0 and SubmissionPrint.objects.count() == 4


@pytest.mark.django_db
def test_an_invite_not_submitted_is_not_compared(assessment_version, broker, tmp_path):
    ann = candidate(assessment_version, "Ann", tmp_path, **{"issue-1": LEAKED})
    broker.tasks.append(("integrity.compare", {"invite_id": ann.pk}))
    broker.run()

    assert not SubmissionPrint.objects.exists()
