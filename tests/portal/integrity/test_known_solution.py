"""Known leaked solutions: `manage.py known_solution add/list/remove`, every submission compared with
them, and bad input refused with a sentence, losing nothing."""

import shutil
import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal.integrity.models import KnownSolution, SimilarityMatch
from tests.conftest import ROOT
from tests.portal.integrity.samples import COPIED, LEAKED, OWN, SHIPPED, own_module, run_integrity, submit
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite

pytestmark = pytest.mark.django_db


def _tree(tmp_path, files: dict[str, str]):
    """The shipped project with ``files`` written over it: a solution's project folder."""
    folder = tmp_path / "solution"
    shutil.copytree(SHIPPED, folder)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _patch(tmp_path, files: dict[str, str]):
    """The same solution as a patch against the shipped project (git diff --no-index)."""
    folder = _tree(tmp_path, files)
    diff = subprocess.run(
        ["git", "diff", "--no-index", "--no-prefix", "--src-prefix=a/", "--dst-prefix=b/", str(SHIPPED), str(folder)],
        capture_output=True,
        check=False,
    ).stdout.decode()
    patch = diff.replace(f"a{SHIPPED}/", "a/").replace(f"b{folder}/", "b/")
    path = tmp_path / "leak.patch"
    path.write_text(patch)
    return path


def _add(version, path, **options) -> str:
    out = StringIO()
    call_command("known_solution", "add", version.assessment.slug, version.label, str(path), stdout=out, **options)
    return out.getvalue()


def test_a_submission_equal_to_a_known_solution_added_later_is_matched(assessment_version, broker, tmp_path):
    invite = make_invite(assessment_version).invite
    candidate_commit(invite, tmp_path / "work", branch="issue-1", changes=LEAKED)
    submit(invite, broker)
    honest = make_invite(assessment_version, name="Bob").invite
    candidate_commit(honest, tmp_path / "bob", branch="issue-1", changes=OWN)
    submit(honest, broker)

    with broker.commit():
        said = _add(assessment_version, _patch(tmp_path, LEAKED), name="public gist", url="https://gist.example/1")
    assert run_integrity(broker) == ["integrity.compare_known"]

    solution = KnownSolution.objects.get()
    assert "Added known solution" in said and set(solution.files) == set(LEAKED)
    assert (solution.name, solution.source_url) == ("public gist", "https://gist.example/1")
    # The whole submission and its issue-1 branch (the same changes) are each the known solution.
    matches = {row.ref: row for row in SimilarityMatch.objects.filter(known_solution=solution)}
    assert set(matches) == {"", "refs/heads/issue-1"}
    assert all(m.invite == invite and m.score == 1.0 and m.passages for m in matches.values())
    assert not SimilarityMatch.objects.filter(invite=honest).exists()


def test_a_submission_is_compared_with_the_known_solutions_when_submitted(assessment_version, broker, tmp_path):
    with broker.commit():
        _add(assessment_version, _tree(tmp_path, LEAKED), name="a repository on the web")
    run_integrity(broker)
    invite = make_invite(assessment_version).invite
    candidate_commit(invite, tmp_path / "work", branch="issue-3", changes=LEAKED)

    submit(invite, broker)

    match = SimilarityMatch.objects.get(invite=invite, ref="")
    assert match.known_solution.name == "a repository on the web" and match.score == 1.0


def test_a_leaked_fix_of_one_ticket_is_matched_on_that_tickets_branch(assessment_version, broker, tmp_path):
    with broker.commit():
        _add(assessment_version, _patch(tmp_path, LEAKED), name="ticket 3, leaked")
    run_integrity(broker)
    invite = make_invite(assessment_version).invite
    candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"app/wrap.py": own_module("textwrap")})
    candidate_commit(invite, tmp_path / "work", branch="issue-3", changes=COPIED)

    submit(invite, broker)

    matches = {row.ref: row.score for row in SimilarityMatch.objects.filter(invite=invite)}
    assert set(matches) == {"", "refs/heads/issue-3"} and matches["refs/heads/issue-3"] >= 0.7


def test_list_and_remove(assessment_version, broker, tmp_path):
    with broker.commit():
        _add(assessment_version, _tree(tmp_path, LEAKED), name="forum post")
    [solution] = KnownSolution.objects.all()
    out = StringIO()
    call_command("known_solution", "list", assessment_version.assessment.slug, stdout=out)
    assert f"{solution.pk}\t" in out.getvalue() and "forum post" in out.getvalue()

    call_command("known_solution", "remove", str(solution.pk), stdout=StringIO())

    assert not KnownSolution.objects.exists()
    with pytest.raises(CommandError, match="no known solution has the id"):
        call_command("known_solution", "remove", str(solution.pk))


@pytest.mark.parametrize(
    "case, expected",
    [
        ("unknown slug", "no assessment has the slug"),
        ("unknown version", "has no version labelled or hashed"),
        ("patch that does not apply", "does not apply to the shipped project"),
        ("not a patch", "cannot be read|changes no text file"),
        ("binary", "is a binary file"),
        ("only the reference fix", "nothing beyond the shipped project and the reference fixes"),
        ("the shipped project unchanged", "changes no text file"),
        ("missing path", "does not exist"),
    ],
)
def test_bad_input_is_refused_with_a_sentence_and_loses_nothing(assessment_version, broker, tmp_path, case, expected):
    with broker.commit():
        _add(assessment_version, _tree(tmp_path / "kept", LEAKED), name="kept")
    slug, label = assessment_version.assessment.slug, assessment_version.label
    path = tmp_path / "input"
    if case == "patch that does not apply":
        path.write_text("--- a/app/crud.py\n+++ b/app/crud.py\n@@ -1,2 +1,2 @@\n-no such line\n-here\n+x\n+y\n")
    elif case == "not a patch":
        path.write_text("just some words\n")
    elif case == "binary":
        path.write_bytes(b"\x7fELF\0\0\0" + bytes(range(256)))
    elif case == "only the reference fix":
        shutil.copy(ROOT / "assessment_app" / "reference" / "ticket-2.patch", path)
    elif case == "the shipped project unchanged":
        path = _tree(tmp_path, {})
    elif case == "unknown slug":
        slug = "no-such-assessment"
    elif case == "unknown version":
        label = "v999"
    args = ["known_solution", "add", slug, label, str(path if case != "missing path" else tmp_path / "nope")]

    with pytest.raises(CommandError, match=expected):
        call_command(*args, name="bad")

    assert list(KnownSolution.objects.values_list("name", flat=True)) == ["kept"]
