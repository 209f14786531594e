"""Pushes judged by the git view before git runs, through the real git client and the portal under
gunicorn: a refused push prints receive-pack's own lines and leaves nothing behind; hand-made
requests that are not pushes git would send are refused whole."""

import fcntl
import gzip
import os
import struct
import subprocess

import pytest

from portal.hosting.gitrepo import KEEP_PREFIX
from portal.hosting.models import Push, RefUpdate
from portal.hosting.receive import pkt
from portal.hosting.services import repository_path
from portal.invites.services import invite_submit
from tests.portal.hosting.conftest import repository_refs
from tests.support.git import git_service_post
from tests.support.workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]

ZERO = "0" * 40


def _post(server, created, body: bytes, **headers: str):
    return git_service_post(
        server.url, created.invite.public_id, created.git_token, "git-receive-pack", body, headers, timeout=60
    )


def _main(created) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repository_path(created.invite)), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_refused_push_prints_the_reasons_and_git_s_rejection_and_leaves_nothing(work, created):
    git, dest = work
    before = repository_refs(created.invite)

    result = git.run("push", "origin", "HEAD:refs/heads/HEAD", "issue-1", "HEAD:refs/notes/x", cwd=dest, check=False)

    assert result.returncode == 1
    lines = [line.rstrip() for line in result.stderr.splitlines()]  # git pads "remote:" lines
    reserved = "refs/heads/HEAD: HEAD is reserved: git reads it as the current branch. Choose another name."
    assert f"remote: refused: {reserved}" in lines
    assert "remote: refused: refs/notes/x: only branches and tags can be pushed." in lines
    assert " ! [remote rejected] HEAD -> HEAD (pre-receive hook declined)" in lines
    assert " ! [remote rejected] issue-1 -> issue-1 (pre-receive hook declined)" in lines
    assert " ! [remote rejected] HEAD -> refs/notes/x (pre-receive hook declined)" in lines
    assert repository_refs(created.invite) == before
    assert not Push.objects.filter(invite=created.invite).exists()
    assert not list(repository_path(created.invite).glob("push-*.log"))


def test_a_big_refused_push_is_read_to_its_end_so_git_prints_the_refusal(work, created):
    git, dest = work
    git.commit_file(dest, "big.bin", os.urandom(3 * 1024 * 1024), "a large file")
    invite_submit(invite=created.invite)
    before = repository_refs(created.invite)

    # Sent chunked (larger than http.postBuffer), after git's probe request.
    result = git.run("-c", "http.postBuffer=65536", "push", "origin", "issue-1", cwd=dest, check=False)

    assert result.returncode == 1
    assert "remote: refused: this assessment was submitted at" in result.stderr
    assert " ! [remote rejected] issue-1 -> issue-1 (pre-receive hook declined)" in result.stderr
    assert "RPC failed" not in result.stderr
    assert repository_refs(created.invite) == before
    assert not Push.objects.filter(invite=created.invite).exists()


def test_a_chunked_push_arrives_whole_and_keeps_its_commit(work, created):
    git, dest = work
    payload = os.urandom(2 * 1024 * 1024)
    sha = git.commit_file(dest, "data.bin", payload, "two megabytes")

    trace = git.run(
        "-c", "http.postBuffer=65536", "push", "origin", "issue-1", cwd=dest,
        env={"GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"},
    )  # fmt: skip

    assert "Transfer-Encoding: chunked" in trace.stderr
    assert f"remote: received issue-1 at {sha[:7]}, scoring queued" in trace.stderr
    repo = repository_path(created.invite)
    blob = subprocess.run(
        ["git", "--git-dir", str(repo), "cat-file", "blob", f"{sha}:data.bin"], capture_output=True, check=True
    ).stdout
    assert blob == payload
    assert f"{KEEP_PREFIX}{sha} {sha}" in repository_refs(created.invite)
    assert RefUpdate.objects.get(push__invite=created.invite).new_sha == sha


def test_main_moved_forward_passes_the_main_guard_and_a_tag_is_not_scored(work, created):
    git, dest = work
    git.run("checkout", "-q", "main", cwd=dest)
    sha = git.commit_file(dest, "forward.txt", "forward\n", "main moves forward")
    git.run("tag", "v1", cwd=dest)

    result = git.run("push", "origin", "main", "v1", cwd=dest)

    assert f"remote: received main at {sha[:7]}, scoring queued" in result.stderr
    assert f"remote: received v1 at {sha[:7]}" in [line.rstrip() for line in result.stderr.splitlines()]
    assert _main(created) == sha
    refs = repository_refs(created.invite)
    assert f"{KEEP_PREFIX}{sha} {sha}" in refs and f"refs/tags/v1 {sha}" in refs


def test_a_force_push_keeps_the_old_commit(work, created):
    git, dest = work
    first = git.run("rev-parse", "HEAD", cwd=dest).stdout.strip()
    git.run("push", "-q", "origin", "issue-1", cwd=dest)
    git.run("commit", "-q", "--amend", "-m", "Fix: Resolve issue #1 - notes, again", cwd=dest)
    second = git.run("rev-parse", "HEAD", cwd=dest).stdout.strip()

    git.run("push", "-q", "--force", "origin", "issue-1", cwd=dest)

    refs = repository_refs(created.invite)
    assert f"{KEEP_PREFIX}{first} {first}" in refs and f"{KEEP_PREFIX}{second} {second}" in refs
    assert f"refs/heads/issue-1 {second}" in refs


def test_a_gzip_push_body_is_refused_with_a_sentence(portal_server, created):
    body = pkt(f"{ZERO} {'1' * 40} refs/heads/x\0report-status\n".encode()) + b"0000"
    status, answer = _post(portal_server, created, gzip.compress(body), **{"Content-Encoding": "gzip"})
    assert status == 415
    assert b"cannot have a Content-Encoding" in answer


@pytest.mark.parametrize(
    "body",
    [
        b"00a0" + b"x" * 10,  # truncated pkt-line
        b"0003",
        b"ffff" + b"x" * 100,
        b"zzzz",
        pkt(b"not a command\n") + b"0000",
        pkt(f"{ZERO} {'1' * 40} refs/heads/x\0report-status push-options\n".encode()) + b"0000" + pkt(b"o\n") + b"0000",
    ],
)
def test_a_malformed_push_is_refused_and_moves_nothing(portal_server, created, body):
    before = repository_refs(created.invite)
    status, answer = _post(portal_server, created, body)
    assert status == 400
    assert answer.startswith(b"Not a valid push request:")
    assert repository_refs(created.invite) == before


def test_a_hand_made_pack_header_claiming_too_many_objects_is_refused(portal_server, created):
    body = (
        pkt(f"{ZERO} {_main(created)} refs/heads/copy\0report-status side-band-64k\n".encode())
        + b"0000"
        + struct.pack(">4sII", b"PACK", 2, 1_000_000)
        + os.urandom(4096)
    )
    status, answer = _post(portal_server, created, body)
    assert status == 200
    assert b"refused: this push adds 1000000 objects; the limit is 20000. Push smaller changes.\n" in answer
    assert b"ng refs/heads/copy pre-receive hook declined\n" in answer
    assert "refs/heads/copy" not in repository_refs(created.invite)


def test_thousands_of_commands_are_refused_after_the_first_few(portal_server, created):
    commands = [f"{ZERO} {'1' * 40} refs/heads/t{n}".encode() for n in range(20_000)]
    commands[0] += b"\0report-status side-band-64k"
    body = b"".join(pkt(line + b"\n") for line in commands) + b"0000"
    status, answer = _post(portal_server, created, body)
    assert status == 200
    assert b"refused: this push updates more than " in answer
    assert not Push.objects.filter(invite=created.invite).exists()


@pytest.mark.parametrize("body", [b"0000", b"0000" + os.urandom(1000)])
def test_the_probe_before_a_large_push_is_answered_without_git_or_the_push_lock(portal_server, created, body):
    before = repository_refs(created.invite)
    status, answer = _post(portal_server, created, body)
    # What receive-pack answers a request without commands: an empty result.
    assert (status, answer) == (200, b"")
    assert repository_refs(created.invite) == before
    # A fresh repository's push lock file is made by the first push that takes it.
    assert not (repository_path(created.invite) / "portal-push.lock").exists()
    assert not Push.objects.filter(invite=created.invite).exists()


def test_after_a_push_its_log_and_lock_are_released_and_the_next_push_goes_through(work, created):
    git, dest = work
    git.run("-c", "http.postBuffer=65536", "push", "-q", "origin", "issue-1", cwd=dest)
    # Recorded before the answer's last bytes; the cleanup follows them.
    assert RefUpdate.objects.filter(push__invite=created.invite, ref="refs/heads/issue-1").exists()
    repo = repository_path(created.invite)
    wait_for(lambda: not list(repo.glob("push-*.log")), timeout=30, what="the push log removed")
    with open(repo / "portal-push.lock", "a") as lock:
        wait_for(lambda: _lock_free(lock), timeout=30, what="the push lock released")
    sha = git.commit_file(dest, "more.txt", "more\n", "more")
    result = git.run("push", "origin", "issue-1", cwd=dest)
    assert f"remote: received issue-1 at {sha[:7]}, scoring queued" in result.stderr


def _lock_free(lock) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(lock, fcntl.LOCK_UN)
    return True
