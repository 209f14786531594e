"""Each ticket's branch is compared with the same ticket's branch of the other submissions, beside the
whole submissions: a fix copied for one ticket alone shows on its branch, where the rest of a large
submission would dilute it. Real repositories, the real hook and task (the ``broker`` fixture), real
copydetect."""

import pytest

import gitplumbing
from portal.hosting.services import repository_path
from portal.integrity.models import SimilarityMatch, SubmissionPrint
from tests.conftest import ROOT
from tests.portal.integrity.samples import COPIED_CRUD, COPIED_ROUTE, CRUD, LEAKED, candidate, own_module, submit

pytestmark = pytest.mark.django_db

ISSUE_1, ISSUE_2, ISSUE_3 = "refs/heads/issue-1", "refs/heads/issue-2", "refs/heads/issue-3"
FIX_2 = ROOT / "assessment_app" / "reference" / "ticket-2.patch"
# Bob's ticket 3 is Ann's, every name changed, the functions reordered and the route file moved.
COPIED_MOVED = {"app/api/routes/late_loans.py": COPIED_ROUTE, "app/crud.py": CRUD + COPIED_CRUD}


def _rows(invite, other) -> dict[str, SimilarityMatch]:
    return {row.ref: row for row in SimilarityMatch.objects.filter(invite=invite, other_invite=other)}


def test_a_ticket_copied_alone_is_matched_on_its_branch_while_the_whole_scores_low(
    assessment_version, broker, tmp_path
):
    # Each wrote a sizeable module of their own for ticket 1; Bob copied Ann's ticket 3 only.
    ann = candidate(
        assessment_version, "Ann", tmp_path, **{"issue-1": {"app/wrap.py": own_module("textwrap")}, "issue-3": LEAKED}
    )
    bob = candidate(
        assessment_version,
        "Bob",
        tmp_path,
        **{"issue-1": {"app/split.py": own_module("shlex")}, "issue-3": COPIED_MOVED},
    )
    submit(ann, broker)
    submit(bob, broker)

    there, back = _rows(bob, ann), _rows(ann, bob)
    assert set(there) == set(back)
    branch = there[ISSUE_3]
    whole = there.get("")
    whole_score = whole.score if whole else 0.0
    print(f"\nticket 3 copied alone: branch {branch.score:.2f} ({branch.shared} shared), whole {whole_score:.2f}")
    assert branch.score >= 0.7 and back[ISSUE_3].score == branch.score
    assert whole_score < 0.3  # the same shared fingerprints, diluted by the rest of the submission
    assert ISSUE_1 not in there  # their own ticket 1 work: nothing in common
    # The passages point from Ann's route to the moved file of Bob's branch.
    assert {p["other_path"] for p in back[ISSUE_3].passages} >= {"app/api/routes/late_loans.py"}
    prints = dict(SubmissionPrint.objects.filter(invite=bob).values_list("ref", "commit"))
    heads = gitplumbing.heads(repository_path(bob))
    assert prints.keys() == {"", ISSUE_1, ISSUE_3} and prints[ISSUE_3] == heads["issue-3"]


def test_branches_of_different_tickets_are_not_compared(assessment_version, broker, tmp_path):
    ann = candidate(assessment_version, "Ann", tmp_path, **{"issue-3": LEAKED})
    bob = candidate(assessment_version, "Bob", tmp_path, **{"issue-4": COPIED_MOVED})
    submit(ann, broker)
    submit(bob, broker)

    # The whole submissions are the copy and match; no branch of a ticket met the same ticket's.
    assert set(_rows(bob, ann)) == {""} and set(_rows(ann, bob)) == {""}


def test_two_minimal_fixes_of_a_ticket_are_not_matched_on_its_branch(assessment_version, broker, tmp_path):
    ann = candidate(assessment_version, "Ann", tmp_path, **{"issue-2": FIX_2, "issue-3": LEAKED})
    bob = candidate(assessment_version, "Bob", tmp_path, **{"issue-2": FIX_2})
    submit(ann, broker)
    submit(bob, broker)

    branch_prints = SubmissionPrint.objects.filter(ref=ISSUE_2)
    assert branch_prints.count() == 2 and all(p.fingerprints == [] for p in branch_prints)
    assert not SimilarityMatch.objects.exists()


def test_a_rerun_replaces_each_refs_rows_and_a_branch_gone_takes_its_own(assessment_version, broker, tmp_path):
    ann = candidate(assessment_version, "Ann", tmp_path, **{"issue-1": LEAKED})
    bob = candidate(
        assessment_version,
        "Bob",
        tmp_path,
        **{"issue-1": COPIED_MOVED, "issue-3": {"app/split.py": own_module("shlex")}},
    )
    submit(ann, broker)
    submit(bob, broker)
    rows = sorted(SimilarityMatch.objects.values_list("invite", "other_invite", "ref", "score", "shared"))
    assert [row[:3] for row in rows] == sorted(
        [(ann.pk, bob.pk, ""), (bob.pk, ann.pk, ""), (ann.pk, bob.pk, ISSUE_1), (bob.pk, ann.pk, ISSUE_1)]
    )

    broker.tasks.append(("integrity.compare", {"invite_id": bob.pk}))
    broker.run()

    assert sorted(SimilarityMatch.objects.values_list("invite", "other_invite", "ref", "score", "shared")) == rows
    assert SubmissionPrint.objects.filter(invite=bob).count() == 3  # whole, issue-1, issue-3

    # Reopened, Bob deletes the copied branch and submits again: its print and its rows go.
    bob.status = bob.Status.ACTIVE
    bob.save(update_fields=["status"])
    gitplumbing.run("update-ref", "-d", "refs/heads/issue-1", git_dir=repository_path(bob))
    submit(bob, broker)

    assert set(SubmissionPrint.objects.filter(invite=bob).values_list("ref", flat=True)) == {"", ISSUE_3}
    assert not SimilarityMatch.objects.exists()


def test_only_the_versions_tickets_branches_are_fingerprinted(assessment_version, broker, tmp_path):
    # A candidate pushes branches for tickets the assessment does not have, and look-alike names.
    eve = candidate(
        assessment_version,
        "Eve",
        tmp_path,
        **{
            name: {"app/x.py": f"value = {n}\n"}
            for n, name in enumerate(["issue-2", "issue-99", "issue-02", "issue-2x"])
        },
    )
    submit(eve, broker)

    assert set(SubmissionPrint.objects.filter(invite=eve).values_list("ref", flat=True)) == {"", ISSUE_2}
