"""One owner of the data directory: what root writes there belongs to the directory's owner.

The suite runs as root, like the scoring worker that has the data directory; the directory
here belongs to an unprivileged user, like the web server's in production.
"""

import os
import shutil
import subprocess

import pytest

import gitplumbing
from gitplumbing.history import open_repository
from gitplumbing.ownership import owned_mkdir, owner_to_act_as
from portal.assessments.services import assessment_version_install
from portal.hosting.services import bundle_path, repository_path
from tests.conftest import ROOT
from tests.support.factories import make_invite
from tests.support.image import OWNER, build_image, foreign_files, open_folder

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user needs root, as the worker has")


@pytest.fixture
def open_tmp():
    """A folder other users may pass through (pytest's own are under a 0700 folder of root's)."""
    folder = open_folder("ownership-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def owned_data(settings, open_tmp):
    data = open_tmp / "data"
    data.mkdir(mode=0o700)
    os.chown(data, *OWNER)
    settings.PORTAL_DATA_DIR = data
    return data


def test_root_acts_as_the_owner_of_the_folder_it_writes_into(owned_data):
    assert owner_to_act_as(owned_data / "not" / "yet") == OWNER
    made = owned_mkdir(owned_data / "a" / "b")
    assert made.is_dir() and foreign_files(owned_data) == []


def test_an_invite_made_by_root_leaves_everything_to_the_owner(owned_data, db):
    version = assessment_version_install(package_dir=ROOT / "assessment_app")
    invite = make_invite(version).invite
    assert repository_path(invite).is_dir() and bundle_path(invite).is_file()
    assert foreign_files(owned_data) == []


def test_objects_and_refs_root_writes_in_a_repository_belong_to_the_owner(owned_data, db):
    version = assessment_version_install(package_dir=ROOT / "assessment_app")
    repo = repository_path(make_invite(version).invite)
    blob = gitplumbing.text("hash-object", "-w", "--stdin", git_dir=repo, input=b"written by root\n")
    gitplumbing.run("update-ref", "refs/portal/test", gitplumbing.text("rev-parse", "main", git_dir=repo), git_dir=repo)
    assert (repo / "objects" / blob[:2] / blob[2:]).is_file()
    assert foreign_files(owned_data) == []


def test_root_reads_history_of_a_repository_another_user_owns(owned_data, db):
    version = assessment_version_install(package_dir=ROOT / "assessment_app")
    repo = repository_path(make_invite(version).invite)
    # Without safe.directory, git refuses: "detected dubious ownership" ("SHA is empty" in GitPython).
    history = open_repository(repo)
    assert [c.message.strip() for c in history.iter_commits("main")] == [f"{version.assessment.title}: starting point"]


def test_a_process_that_is_not_the_owner_is_told_so_by_the_system_check(open_tmp):
    image = build_image(open_tmp / "app")
    data = open_tmp / "data"
    data.mkdir(mode=0o777)  # writable by anyone, but owned by root; the check runs as nobody
    data.chmod(0o777)
    env = {"PATH": "/usr/bin:/bin", "PORTAL_DATA_DIR": str(data), "PORTAL_VAR_DIR": str(open_tmp / "var")}
    (open_tmp / "var").mkdir()
    os.chown(open_tmp / "var", *OWNER)
    check = subprocess.run(
        [image.python, "manage.py", "check"],
        cwd=image.app,
        env=env,
        capture_output=True,
        text=True,
        user=OWNER[0],
        group=OWNER[1],
        extra_groups=[],
        timeout=120,
    )
    assert check.returncode != 0
    assert f"belongs to uid 0, but this process runs as uid {OWNER[0]}" in check.stderr
    assert "portal.E003" in check.stderr
