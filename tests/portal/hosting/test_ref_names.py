"""Ref names a candidate chooses are checked by the git view on the push's commands, before git runs.

The portal records every pushed ref name after git has moved the refs; a name it could not store
(RefUpdate.ref holds 255 characters, and PostgreSQL enforces it) would leave a push in the
repository with no record, no run and no event. So such names never get that far.
"""

import io
import subprocess

import pytest

from portal.hosting.models import Push, RefUpdate
from portal.hosting.receive import pkt, read_push
from portal.hosting.refpolicy import MAX_REF_BYTES, push_problems, ref_name_problem
from tests.portal.hosting.conftest import repository_refs

ZERO = "0" * 40
SHA = "1" * 40
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


# --- The check itself: names the git client would never send ---------------------------------------


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
def test_the_check_refuses_names_git_would_refuse_or_the_portal_could_not_show(ref, words):
    [problem] = push_problems([(ZERO, SHA, ref)])
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
def test_the_check_agrees_with_git_check_ref_format(ref):
    git_accepts = subprocess.run(["git", "check-ref-format", ref], capture_output=True).returncode == 0
    assert (ref_name_problem(ref) is None) == git_accepts


def _commands(*lines: bytes) -> list[tuple[str, str, str]]:
    body = pkt(lines[0] + b"\0report-status side-band-64k\n") + b"".join(pkt(line + b"\n") for line in lines[1:])
    return read_push(io.BytesIO(body + b"0000"), content_length=None, max_refs=20, read_pack_header=False).commands


def test_a_ref_name_with_a_line_break_inside_its_pkt_line_is_refused_whole():
    # A hand-made request may put a line break inside a name: it stays one name, and is refused.
    commands = _commands(f"{ZERO} {SHA} refs/heads/a\nb".encode())
    assert commands == [(ZERO, SHA, "refs/heads/a\nb")]
    assert push_problems(commands) == ["refs/heads/a\\x0ab: ref names cannot contain control or invisible characters."]


def test_a_name_that_is_not_utf_8_is_refused():
    commands = _commands(f"{ZERO} {SHA} ".encode() + b"refs/heads/caf\xe9")
    assert push_problems(commands) == ["refs/heads/caf\\xe9: ref names must be valid UTF-8."]
