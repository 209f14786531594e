"""Worker processes keep their temporary files in a folder of their own (portal/core/scratch.py), so
what a killed one left behind is removed by the next one to start, never kept for good."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.db import connection

from grader.sockets import socket_folder
from portal.core.scratch import PREFIX, scratch_begin, scratch_end
from tests.support.workers import database_url, running_worker, wait_for


@pytest.fixture
def short_tmp():
    """A temporary folder with a path short enough for a scratch folder (pytest's are too long)."""
    folder = Path(tempfile.mkdtemp(prefix="scratch-test-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def restored_tempdir(monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    monkeypatch.setenv("TMPDIR", os.environ.get("TMPDIR", ""))


def _left(folder) -> list[str]:
    left = folder / "score-abc" / "tree"
    left.mkdir(parents=True)
    (left / "main.py").write_text("print('left by a killed run')\n")
    return folder


def test_a_process_removes_the_folders_of_dead_processes_and_keeps_the_living(short_tmp, restored_tempdir):
    tmp_path = short_tmp
    dead = _left(tmp_path / f"{PREFIX}{_dead_pid()}")
    living = _left(tmp_path / f"{PREFIX}{os.getppid()}")
    stale_own = _left(tmp_path / f"{PREFIX}{os.getpid()}")  # a process before this one had its pid
    not_ours = _left(tmp_path / "portal-worker-notapid")
    own = scratch_begin(base=tmp_path)
    assert own == stale_own and list(own.iterdir()) == []
    assert not dead.exists()
    assert living.exists() and not_ours.exists()
    # Its temporary files now go there, its subprocesses' too.
    assert tempfile.mkdtemp(prefix="score-").startswith(str(own))
    assert os.environ["TMPDIR"] == str(own)
    scratch_end()
    assert not own.exists()


def test_a_symlink_named_like_a_folder_is_never_followed(short_tmp, restored_tempdir):
    tmp_path = short_tmp
    target = _left(tmp_path / "precious")
    (tmp_path / f"{PREFIX}{_dead_pid()}").symlink_to(target)
    scratch_begin(base=tmp_path)
    assert (target / "score-abc" / "tree" / "main.py").exists()


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_real_worker_removes_what_a_killed_one_left_and_its_own_on_a_warm_shutdown(
    transactional_db, tmp_path, short_tmp
):
    scratch = short_tmp
    dead = _left(scratch / f"{PREFIX}{_dead_pid()}")
    url = database_url(connection.settings_dict)
    with running_worker(db_url=url, log_dir=tmp_path, queues="default", env={"TMPDIR": str(scratch)}):
        own = wait_for(
            lambda: [folder for folder in scratch.glob(f"{PREFIX}*") if folder != dead],
            timeout=30,
            what="the pool process's folder",
        )
        assert len(own) == 1  # one pool process
        assert not dead.exists()  # removed before the pool process made its own
    assert list(scratch.glob(f"{PREFIX}*")) == []


def test_an_apps_socket_fits_under_a_scratch_folder_whatever_its_path(tmp_path, restored_tempdir):
    long_base = tmp_path / ("x" * 90)
    long_base.mkdir()
    own = scratch_begin(base=long_base)
    folder = socket_folder()
    try:
        assert len(f"{folder}/app.sock") < 108  # what AF_UNIX takes
        assert Path(folder).parent == Path("/tmp")
        assert Path(folder).stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(folder)
        scratch_end()
    assert not own.exists()
