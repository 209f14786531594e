"""Exporting a pushed commit for scoring: git archive, written safely, within caps."""

import os
import subprocess

import pytest

from portal.scoring.export import TreeTooLarge, tree_export


def _repo_with(tmp_path, files: dict[str, str], symlinks: dict[str, str] | None = None) -> tuple:
    work = tmp_path / "work"
    env = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.com"}  # fmt: skip
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    for name, content in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(content)
    for name, target in (symlinks or {}).items():
        os.symlink(target, work / name)
    if (work / "run.sh").exists():
        (work / "run.sh").chmod(0o755)
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    subprocess.run(["git", "commit", "-qm", "c"], cwd=work, check=True, env=env)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True).stdout.strip()
    return work / ".git", sha


def test_the_tree_is_written_with_its_files_and_executable_bits(tmp_path, settings):
    repo, sha = _repo_with(tmp_path, {"app/main.py": "print(1)\n", "run.sh": "#!/bin/sh\n"})
    out = tmp_path / "out"
    out.mkdir()
    tree_export(repo=repo, commit=sha, destination=out)
    assert (out / "app" / "main.py").read_text() == "print(1)\n"
    assert os.access(out / "run.sh", os.X_OK) and not os.access(out / "app" / "main.py", os.X_OK)


def test_a_symlink_out_of_the_tree_stays_a_link_and_nothing_is_written_outside(tmp_path, settings):
    outside = tmp_path / "outside.txt"
    outside.write_text("host file\n")
    repo, sha = _repo_with(tmp_path, {"a.txt": "a\n"}, symlinks={"escape": str(outside)})
    out = tmp_path / "out"
    out.mkdir()
    tree_export(repo=repo, commit=sha, destination=out)
    assert (out / "escape").is_symlink()
    assert outside.read_text() == "host file\n"


def test_a_tree_over_the_file_cap_is_refused_with_its_reason(tmp_path, settings):
    settings.PORTAL_SCORING_MAX_FILES = 10
    repo, sha = _repo_with(tmp_path, {f"f{n}.txt": f"{n}\n" for n in range(11)})
    with pytest.raises(TreeTooLarge, match="the commit has 11 files; at most 10 are scored"):
        tree_export(repo=repo, commit=sha, destination=tmp_path)


def test_a_tree_over_the_size_cap_is_refused_with_its_reason(tmp_path, settings):
    settings.PORTAL_SCORING_MAX_TREE_MB = 1
    repo, sha = _repo_with(tmp_path, {"big.txt": "x" * (2 * 1024 * 1024)})
    with pytest.raises(TreeTooLarge, match=r"add up to 2\.0 MB; at most 1 MB are scored"):
        tree_export(repo=repo, commit=sha, destination=tmp_path)
