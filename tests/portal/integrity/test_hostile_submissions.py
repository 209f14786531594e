"""What a hostile candidate can push does not crash the comparison nor make it unbounded: binary
files, a 50 MB file, 10,000 files, names with newlines and dots, undecodable text. The commit is
written straight into the invite's repository (git fast-import): the worst the reader can meet, past
what the push limits would let through."""

import pytest

import gitplumbing
from portal.hosting.services import repository_path
from portal.integrity.fingerprints import MAX_FILE_BYTES, MAX_FILES, MAX_TOTAL_BYTES
from portal.integrity.models import SimilarityMatch, SubmissionPrint
from tests.portal.integrity.samples import LEAKED, submit
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite


def _quoted(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _hostile_commit(invite, files: dict[str, bytes], *, branch: str = "issue-1") -> str:
    """A commit of ``files`` on top of the starting point, on ``branch``, written with fast-import."""
    path = repository_path(invite)
    stream = [f"commit refs/heads/{branch}\ncommitter Eve <eve@example.com> 1700000000 +0000\n"]
    stream.append(f"data 7\nhostile\nfrom {invite.repository.base_commit}\n")
    chunks = ["".join(stream).encode()]
    for name, data in files.items():
        chunks += [f"M 100644 inline {_quoted(name)}\ndata {len(data)}\n".encode(), data, b"\n"]
    chunks.append(b"\n")
    gitplumbing.run("fast-import", "--quiet", "--force", git_dir=path, input=b"".join(chunks), timeout=300)
    return gitplumbing.text("rev-parse", f"refs/heads/{branch}", git_dir=path)


@pytest.mark.django_db
def test_a_hostile_submission_is_read_within_the_caps_and_still_compared(assessment_version, broker, tmp_path):
    honest = make_invite(assessment_version, name="Ann").invite
    candidate_commit(honest, tmp_path / "ann", branch="issue-1", changes=LEAKED)
    submit(honest, broker)

    eve = make_invite(assessment_version, name="Eve").invite
    files = {f"junk/f{n:05d}.py": f"value_{n} = {n} * {n} + {n}\n".encode() for n in range(10_000)}
    files |= {
        "big.py": b"x = 1\n" * (50 * 1024 * 1024 // 6),
        "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 40,
        "nul.py": b"a = 1\0\n" * 100,
        "latin1.py": "caf\xe9 = 'd\xe9j\xe0'\n".encode("latin-1"),
        "evil\nname.py": b"print('newline in my name')\n",
        "..\n../etc/passwd.py": b"print('dots')\n",
        "a/.../b.py": b"print('three dots')\n",
    }
    # The copied solution too, so the comparison has something to find among the junk.
    files |= {"app/api/routes/reports.py": LEAKED["app/api/routes/reports.py"].encode()}
    commit = _hostile_commit(eve, files)

    assert submit(eve, broker) == ["integrity.compare"]

    stored = SubmissionPrint.objects.get(invite=eve, ref="")
    assert stored.commit == commit
    assert len(stored.files) <= MAX_FILES
    assert sum(len(text.encode()) for text in stored.files.values()) <= MAX_TOTAL_BYTES
    assert all(len(text.encode()) <= MAX_FILE_BYTES for text in stored.files.values())
    assert not {"big.py", "logo.png", "nul.py", "latin1.py"} & set(stored.files)
    # In path order the copied route comes before the junk, within the caps; names are readable text.
    assert "app/api/routes/reports.py" in stored.files
    assert all(name.isprintable() for name in stored.files)
    assert "\n" not in "".join(name for entry in stored.fingerprints for name in [entry[1]])
    match = SimilarityMatch.objects.get(invite=eve, other_invite=honest, ref="")
    assert match.score > 0 and match.passages


@pytest.mark.django_db
def test_links_and_submodules_are_not_followed(assessment_version, broker, tmp_path):
    eve = make_invite(assessment_version, name="Eve").invite
    path = repository_path(eve)
    blob = gitplumbing.text("hash-object", "-w", "--stdin", git_dir=path, input=b"/etc/passwd")
    base = eve.repository.base_commit
    stream = (
        f"commit refs/heads/issue-1\ncommitter Eve <eve@example.com> 1700000000 +0000\ndata 5\nlinks\n"
        f"from {base}\nM 120000 {blob} passwd.py\nM 160000 {base} vendor/sub\n\n"
    ).encode()
    gitplumbing.run("fast-import", "--quiet", "--force", git_dir=path, input=stream)

    submit(eve, broker)

    assert {p.ref: p.files for p in SubmissionPrint.objects.filter(invite=eve)} == {"": {}, "refs/heads/issue-1": {}}
