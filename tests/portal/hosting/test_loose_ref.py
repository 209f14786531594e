"""Reading a branch's loose ref file (gitrepo.loose_ref): a commit only when the file says where the
branch points; None (ask git) for anything else."""

import subprocess

from portal.hosting.gitrepo import loose_ref

SHA = "0123456789abcdef0123456789abcdef01234567"


def _repo(tmp_path):
    path = tmp_path / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


def test_a_loose_branch_names_its_commit(tmp_path):
    path = _repo(tmp_path)
    (path / "refs" / "heads" / "topic").mkdir(parents=True)
    (path / "refs" / "heads" / "topic" / "one").write_text(SHA + "\n")
    assert loose_ref(path, "refs/heads/topic/one") == SHA


def test_anything_else_is_left_to_git(tmp_path):
    path = _repo(tmp_path)
    (path / "refs" / "heads" / "symbolic").write_text("ref: refs/heads/main\n")
    (path / "refs" / "heads" / "short").write_text("0123\n")
    (path / "refs" / "tags" / "v1").write_text(SHA + "\n")
    (path / "packed-refs").write_text(f"{SHA} refs/heads/packed\n")
    assert loose_ref(path, "refs/heads/symbolic") is None
    assert loose_ref(path, "refs/heads/short") is None
    assert loose_ref(path, "refs/heads/packed") is None
    assert loose_ref(path, "refs/heads/missing") is None
    assert loose_ref(path, "refs/tags/v1") is None
    assert loose_ref(path, "refs/heads/topic") is None


def test_a_name_never_leaves_the_branches(tmp_path):
    path = _repo(tmp_path)
    (path / "refs" / "heads" / "x").write_text(SHA + "\n")
    (path / "HEADS").write_text(SHA + "\n")
    for ref in ("refs/heads/../heads/x", "refs/heads/./x", "refs/heads//x", "refs/heads/../../HEADS", "refs/heads"):
        assert loose_ref(path, ref) is None
