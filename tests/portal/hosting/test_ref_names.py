"""Ref names a candidate chooses are checked by the pre-receive hook, before any ref moves.

The portal records every pushed ref name after git has moved the refs; a name it could not store
(RefUpdate.ref holds 255 characters, and PostgreSQL enforces it) would leave a push in the
repository with no record, no run and no event. So such names never get that far.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from portal.hosting.githooks.policy import MAX_REF_BYTES, pre_receive, ref_name_problem
from portal.hosting.models import Push, RefUpdate
from tests.portal.hosting.conftest import repository_refs

ZERO = "0" * 40
SHA = "1" * 40
HOOK = Path(__file__).resolve().parents[3] / "portal" / "hosting" / "githooks" / "policy.py"
# Five 60-character folders: every part fits a file name, the whole does not fit the database.
LONG = "refs/heads/" + "/".join(f"{n}" * 60 for n in range(5))


# --- Through the real git client and the portal under gunicorn ----------------------------------


@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("ref", "sentence"),
    [
        (LONG, f"remote: refused: {LONG[:77]}...: ref names can be at most 255 bytes; this one has {len(LONG)}."),
        ("refs/heads/HEAD", "remote: refused: refs/heads/HEAD: HEAD is reserved"),
        ("refs/heads/issue-1/HEAD", "remote: refused: refs/heads/issue-1/HEAD: HEAD is reserved"),
        ("refs/tags/HEAD", "remote: refused: refs/tags/HEAD: HEAD is reserved"),
        ("refs/heads/issue-1-\u202etxt.exe", "remote: refused: refs/heads/issue-1-\\u202etxt.exe: ref names cannot"),
    ],
)
def test_a_push_of_a_bad_ref_name_is_refused_and_nothing_moves(work, created, ref, sentence):
    git, dest = work
    before = repository_refs(created.invite)

    # Pushed together with a good branch: the whole push is refused, not only the bad name.
    result = git.run("push", "origin", f"HEAD:{ref}", "issue-1", cwd=dest, check=False)

    assert result.returncode != 0
    assert sentence in result.stderr
    assert repository_refs(created.invite) == before
    assert not Push.objects.filter(invite=created.invite).exists()


@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
@pytest.mark.engines
def test_a_name_of_exactly_255_bytes_is_accepted_and_recorded_whole(work, created):
    git, dest = work
    ref = "refs/heads/" + "/".join(["é" * 60, "x" * 60, "y" * 62])  # 255 bytes, fewer characters
    assert len(ref.encode()) == MAX_REF_BYTES

    git.run("push", "origin", f"HEAD:{ref}", cwd=dest)

    assert RefUpdate.objects.get(push__invite=created.invite).ref == ref
    assert ref in repository_refs(created.invite)


# --- The hook itself: names the git client would never send ----------------------------------------


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        ("refs/heads/a\x01b", "refs/heads/a\\x01b: ref names cannot contain control or invisible characters."),
        ("refs/heads/a\x7f", "refs/heads/a\\x7f: ref names cannot contain control"),
        ("refs/heads/a\u200bb", "refs/heads/a\\u200bb: ref names cannot contain control"),
        ("refs/heads/a\udcffb", "refs/heads/a\\xffb: ref names must be valid UTF-8."),
        ("refs/heads/a..b", "refs/heads/a..b: not a valid ref name"),
        ("refs/heads/a b", "refs/heads/a b: not a valid ref name"),
        ("refs/heads/x.lock", "refs/heads/x.lock: not a valid ref name"),
        ("refs/heads/@{u}", "refs/heads/@{u}: not a valid ref name"),
        ("refs/heads/a//b", "refs/heads/a//b: not a valid ref name"),
        ("refs/heads/.hidden", "refs/heads/.hidden: not a valid ref name"),
        ("refs/heads/ends.", "refs/heads/ends.: not a valid ref name"),
    ],
)
def test_the_hook_refuses_names_git_would_refuse_or_the_portal_could_not_show(ref, words):
    [problem] = pre_receive([(ZERO, SHA, ref)])
    assert problem.startswith(words)


@pytest.mark.parametrize(
    "ref",
    [
        "refs/heads/a..b",
        "refs/heads/a~1",
        "refs/heads/a^",
        "refs/heads/a:b",
        "refs/heads/a?",
        "refs/heads/a*",
        "refs/heads/a[",
        "refs/heads/a\\b",
        "refs/heads/a//b",
        "refs/heads/x/",
        "refs/heads/x.",
        "refs/heads/.x",
        "refs/heads/x/.y",
        "refs/heads/x.lock",
        "refs/heads/x.lock/y",
        "refs/heads/@{x",
        "refs/heads/a\tb",
        "refs/heads/ok",
        "refs/heads/@",
        "refs/heads/a@b",
        "refs/heads/-x",
        "refs/heads/caf\u00e9",
        "refs/tags/v1.0",
    ],
)
def test_the_hook_agrees_with_git_check_ref_format(ref):
    git_accepts = subprocess.run(["git", "check-ref-format", ref], capture_output=True).returncode == 0
    assert (ref_name_problem(ref) is None) == git_accepts


def test_a_hook_input_line_broken_by_a_ref_name_is_refused_by_the_running_hook():
    # receive-pack writes "old new ref" lines; a line break inside a name makes a line of its own.
    stdin = f"{ZERO} {SHA} refs/heads/a\nb\n".encode()
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK), "pre-receive"],
        input=stdin,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )
    assert result.returncode == 1
    assert b"refused: b\\x0a: ref names cannot contain control or invisible characters." in result.stdout


def test_a_name_that_is_not_utf_8_is_refused_by_the_running_hook():
    stdin = f"{ZERO} {SHA} ".encode() + b"refs/heads/caf\xe9\n"
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK), "pre-receive"],
        input=stdin,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )
    assert result.returncode == 1
    assert result.stdout == b"refused: refs/heads/caf\\xe9: ref names must be valid UTF-8.\n"
