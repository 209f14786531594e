"""Clone, fetch and push with the real git client against the portal under gunicorn."""

import os
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from portal.assessments.services import version_shipped_dir, version_snapshot
from portal.hosting.gitrepo import KEEP_PREFIX, all_objects
from portal.hosting.models import Push, RefUpdate
from portal.hosting.services import repository_path
from portal.invites.models import Event, Invite
from portal.invites.services import invite_revoke, invite_submit
from tests.support.factories import make_invite
from tests.support.git import GitClient, remote_url

# The portal runs in another process: the invites must be committed for it to see them.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def git(tmp_path) -> GitClient:
    return GitClient(tmp_path / "home")


def _url(server, created, password=None):
    return remote_url(server.url, created.invite.public_id, created.invite.public_id, password or created.git_token)


def _clone(git, server, created, dest: Path) -> Path:
    git.run("clone", "-q", _url(server, created), str(dest))
    return dest


def test_a_clone_holds_one_portal_commit_with_the_shipped_project(git, portal_server, created, tmp_path):
    work = _clone(git, portal_server, created, tmp_path / "work")
    log = git.run("log", "--format=%an <%ae>|%s", cwd=work).stdout.splitlines()
    assert log == ["Assessment Portal <portal@localhost>|Library lending API: starting point"]
    shipped = sorted(p.name for p in version_shipped_dir(created.invite.assessment_version).iterdir())
    assert sorted(p.name for p in work.iterdir() if p.name != ".git") == shipped
    assert git.run("branch", "-r", cwd=work).stdout.split() == ["origin/HEAD", "->", "origin/main", "origin/main"]


def test_nothing_unshipped_is_reachable_or_stored_in_the_repository(created, assessment_version):
    repo = repository_path(created.invite)
    package = version_snapshot(assessment_version)
    unshipped = [
        p for p in package.rglob("*") if p.is_file() and version_shipped_dir(assessment_version) not in p.parents
    ]
    assert unshipped, "the package should have hidden tests, fixes and a manifest"
    unshipped_ids = {
        subprocess.run(["git", "hash-object", str(p)], capture_output=True, text=True, check=True).stdout.strip()
        for p in unshipped
    }
    objects = all_objects(repo)
    assert objects.isdisjoint(unshipped_ids)
    listing = subprocess.run(
        ["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only", "main"], capture_output=True, text=True
    ).stdout.split()
    assert not [name for name in listing if name.startswith(("hidden_tests/", "reference/", "grader/"))]
    assert "assessment.toml" not in listing


@pytest.mark.engines
def test_a_pushed_branch_is_recorded_with_its_ref_update_and_event(git, portal_server, created, tmp_path):
    work = _clone(git, portal_server, created, tmp_path / "work")
    git.run("checkout", "-q", "-b", "issue-1", cwd=work)
    sha = git.commit_file(work, "NOTES.md", "notes\n", "Fix: Resolve issue #1 - notes")
    push = git.run("push", "origin", "issue-1", cwd=work)
    assert f"remote: received issue-1 at {sha[:7]}" in push.stderr
    [recorded] = Push.objects.filter(invite=created.invite)
    assert recorded.address == "127.0.0.1"
    assert [(u.ref, u.new_sha, u.kind) for u in recorded.ref_updates.all()] == [
        ("refs/heads/issue-1", sha, RefUpdate.Kind.CREATED)
    ]
    assert created.invite.events.filter(kind=Event.Kind.PUSHED).count() == 1


def test_a_5_mb_push_arrives_chunked_and_whole(git, portal_server, created, tmp_path):
    work = _clone(git, portal_server, created, tmp_path / "work")
    payload = os.urandom(5 * 1024 * 1024)
    sha = git.commit_file(work, "data.bin", payload, "Add a large file")
    git.run("checkout", "-q", "-b", "big", cwd=work)
    trace = git.run("push", "origin", "big", cwd=work, env={"GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"})
    assert "Transfer-Encoding: chunked" in trace.stderr
    blob = subprocess.run(
        ["git", "--git-dir", str(repository_path(created.invite)), "cat-file", "blob", f"{sha}:data.bin"],
        capture_output=True,
        check=True,
    ).stdout
    assert blob == payload


def test_a_fetch_with_a_gzip_request_body_works(git, portal_server, created, tmp_path):
    work = _clone(git, portal_server, created, tmp_path / "work")
    for n in range(60):
        git.run("branch", f"topic-{n:03d}", cwd=work)
    git.commit_file(work, "a.txt", "a\n", "one more")
    # In pushes of 20 refs, the most one push may update (PORTAL_GIT_MAX_REFS_PER_PUSH).
    branches = ["main", *(f"topic-{n:03d}" for n in range(60))]
    for start in range(0, len(branches), 20):
        git.run("push", "-q", "origin", *branches[start : start + 20], cwd=work)
    # A fresh clone wants every one of those refs: a request large enough for git to gzip.
    trace = git.run("clone", "-q", _url(portal_server, created), str(tmp_path / "again"), env={"GIT_TRACE_CURL": "1"})
    assert "Content-Encoding: gzip" in trace.stderr
    branches = git.run("branch", "-r", cwd=tmp_path / "again").stdout
    assert branches.count("origin/topic-") == 60


def test_protocol_v2_is_passed_through(git, portal_server, created):
    result = git.run(
        "-c", "protocol.version=2", "ls-remote", _url(portal_server, created), env={"GIT_TRACE_PACKET": "1"}
    )
    assert "version 2" in result.stderr
    assert "refs/heads/main" in result.stdout


def test_a_force_push_loses_nothing_and_hidden_refs_stay_hidden(git, portal_server, created, tmp_path):
    work = _clone(git, portal_server, created, tmp_path / "work")
    git.run("checkout", "-q", "-b", "issue-2", cwd=work)
    first = git.commit_file(work, "a.txt", "first\n", "first try")
    git.run("push", "-q", "origin", "issue-2", cwd=work)
    git.run("reset", "-q", "--hard", "HEAD~1", cwd=work)
    second = git.commit_file(work, "b.txt", "second\n", "second try")
    git.run("push", "-q", "--force", "origin", "issue-2", cwd=work)
    repo = repository_path(created.invite)
    kept = subprocess.run(
        ["git", "--git-dir", str(repo), "for-each-ref", "--format=%(refname)", KEEP_PREFIX],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert f"{KEEP_PREFIX}{first}" in kept and f"{KEEP_PREFIX}{second}" in kept
    assert RefUpdate.objects.filter(push__invite=created.invite, new_sha=second).get().kind == RefUpdate.Kind.FORCED
    visible = git.run("ls-remote", "origin", cwd=work).stdout
    assert "refs/portal" not in visible and first not in visible


def test_a_deleted_branch_keeps_its_commits(git, portal_server, created, tmp_path):
    work = _clone(git, portal_server, created, tmp_path / "work")
    git.run("checkout", "-q", "-b", "scratch", cwd=work)
    sha = git.commit_file(work, "s.txt", "s\n", "scratch work")
    git.run("push", "-q", "origin", "scratch", cwd=work)
    result = git.run("push", "origin", ":scratch", cwd=work)
    assert "remote: deleted scratch (its commits are kept)" in result.stderr
    repo = repository_path(created.invite)
    assert subprocess.run(["git", "--git-dir", str(repo), "cat-file", "-e", sha]).returncode == 0
    assert RefUpdate.objects.filter(push__invite=created.invite, kind=RefUpdate.Kind.DELETED).count() == 1


def test_one_commit_pushed_to_two_branches_at_once_is_kept_after_both_are_deleted(
    git, portal_server, created, tmp_path
):
    work = _clone(git, portal_server, created, tmp_path / "work")
    git.run("checkout", "-q", "-b", "one", cwd=work)
    sha = git.commit_file(work, "twice.txt", "twice\n", "one commit, two branches")
    git.run("push", "-q", "origin", "one:one", "one:two", cwd=work)
    repo = repository_path(created.invite)
    kept = subprocess.run(
        ["git", "--git-dir", str(repo), "for-each-ref", "--format=%(objectname)", f"{KEEP_PREFIX}{sha}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert kept == [sha]
    git.run("push", "-q", "origin", ":one", ":two", cwd=work)
    assert subprocess.run(["git", "--git-dir", str(repo), "cat-file", "-e", sha]).returncode == 0
    assert RefUpdate.objects.filter(push__invite=created.invite, new_sha=sha).count() == 2


def test_deleting_or_rewinding_main_is_refused_with_a_message(git, portal_server, created, tmp_path):
    work = _clone(git, portal_server, created, tmp_path / "work")
    deleted = git.run("push", "origin", ":main", cwd=work, check=False)
    assert deleted.returncode != 0
    assert "remote: refused: main cannot be deleted" in deleted.stderr
    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=work)
    rewound = git.run("push", "--force", "origin", "main", cwd=work, check=False)
    assert rewound.returncode != 0
    assert "remote: refused: main cannot be rewound or rewritten" in rewound.stderr
    assert not Push.objects.filter(invite=created.invite).exists()


def test_only_branches_and_tags_can_be_pushed(git, portal_server, created, tmp_path):
    work = _clone(git, portal_server, created, tmp_path / "work")
    hidden = git.run("push", "origin", f"HEAD:{KEEP_PREFIX}x", cwd=work, check=False)
    assert hidden.returncode != 0 and "deny updating a hidden ref" in hidden.stderr
    notes = git.run("push", "origin", "HEAD:refs/notes/x", cwd=work, check=False)
    assert "remote: refused: refs/notes/x: only branches and tags can be pushed." in notes.stderr


def test_another_invites_credentials_are_refused_and_leak_nothing(git, portal_server, created, assessment_version):
    a = created
    b = make_invite(assessment_version, name="Bo Example")
    url = remote_url(portal_server.url, b.invite.public_id, a.invite.public_id, a.git_token)
    result = git.run("ls-remote", url, check=False)
    assert result.returncode != 0
    assert "Authentication failed" in result.stderr
    main_b = subprocess.run(
        ["git", "--git-dir", str(repository_path(b.invite)), "rev-parse", "main"], capture_output=True, text=True
    ).stdout.strip()
    assert main_b not in result.output


@pytest.mark.parametrize("password", ["wrong-token", ""])
def test_a_wrong_token_is_refused(git, portal_server, created, password):
    result = git.run("ls-remote", _url(portal_server, created, password=password or "x"), check=False)
    assert result.returncode != 0
    assert "Authentication failed" in result.stderr


def test_a_push_after_submission_is_refused_with_its_message(git, portal_server, created, tmp_path):
    work = _clone(git, portal_server, created, tmp_path / "work")
    invite_submit(invite=created.invite)
    git.run("checkout", "-q", "-b", "issue-3", cwd=work)
    git.commit_file(work, "late.txt", "late\n", "late change")
    result = git.run("push", "origin", "issue-3", cwd=work, check=False)
    assert result.returncode != 0
    assert "remote: refused: this assessment was submitted at" in result.stderr
    assert "issue-3" not in git.run("ls-remote", "origin", cwd=work).stdout


def test_a_push_after_the_deadline_is_refused_but_the_code_can_still_be_fetched(
    git, portal_server, assessment_version, tmp_path
):
    created = make_invite(assessment_version, deadline=timezone.now() + timedelta(hours=1))
    work = _clone(git, portal_server, created, tmp_path / "work")
    Invite.objects.filter(pk=created.invite.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    git.commit_file(work, "late.txt", "late\n", "late change")
    result = git.run("push", "origin", "main", cwd=work, check=False)
    assert "remote: refused: the time for this assessment ended at" in result.stderr
    assert git.run("fetch", "origin", cwd=work).returncode == 0


def test_a_revoked_invite_can_neither_clone_nor_push(git, portal_server, created, tmp_path):
    invite_revoke(invite=created.invite)
    result = git.run("clone", _url(portal_server, created), str(tmp_path / "w"), check=False)
    assert result.returncode != 0
    assert "403" in result.stderr


def test_the_first_clone_starts_a_time_limited_invites_clock(git, portal_server, assessment_version, tmp_path):
    created = make_invite(assessment_version, time_limit=timedelta(hours=4))
    assert created.invite.started_at is None
    work = _clone(git, portal_server, created, tmp_path / "work")
    git.run("fetch", "origin", cwd=work)
    created.invite.refresh_from_db()
    assert created.invite.started_at is not None
    assert created.invite.closes_at == created.invite.started_at + timedelta(hours=4)
    kinds = list(created.invite.events.values_list("kind", flat=True))
    assert kinds == [Event.Kind.INVITED, Event.Kind.CLONED, Event.Kind.FETCHED]


def test_an_oversize_push_is_refused(git, portal_server, assessment_version, tmp_path, settings):
    settings.PORTAL_GIT_MAX_PUSH_MB = 1  # written into the repository's config when it is created
    created = make_invite(assessment_version)
    work = _clone(git, portal_server, created, tmp_path / "work")
    git.commit_file(work, "big.bin", os.urandom(3 * 1024 * 1024), "too big")
    result = git.run("push", "origin", "HEAD:refs/heads/big", cwd=work, check=False)
    assert result.returncode != 0
    assert "big" not in git.run("ls-remote", "origin", cwd=work).stdout
    assert not Push.objects.filter(invite=created.invite).exists()


def test_a_push_with_too_many_objects_is_refused(git, portal_server, assessment_version, tmp_path, settings):
    settings.PORTAL_GIT_MAX_OBJECTS = 20
    created = make_invite(assessment_version)
    work = _clone(git, portal_server, created, tmp_path / "work")
    for n in range(30):
        (work / "many" / f"f{n}.txt").parent.mkdir(exist_ok=True)
        (work / "many" / f"f{n}.txt").write_text(f"{n}\n")
    git.run("add", "many", cwd=work)
    git.run("commit", "-q", "-m", "many files", cwd=work)  # 30 blobs, 2 trees, 1 commit
    result = git.run("push", "origin", "HEAD:refs/heads/many", cwd=work, check=False)
    assert "remote: refused: this push adds 33 objects; the limit is 20." in result.stderr


@pytest.mark.engines
def test_concurrent_pushes_to_one_repository_are_all_recorded(git, portal_server, created, tmp_path):
    clones = [_clone(git, portal_server, created, tmp_path / f"w{n}") for n in range(3)]
    for n, work in enumerate(clones):
        git.run("checkout", "-q", "-b", f"issue-{n + 1}", cwd=work)
        git.commit_file(work, f"f{n}.txt", f"{n}\n", f"Fix: Resolve issue #{n + 1} - change")
    results = []
    threads = [
        threading.Thread(target=lambda w=w, n=n: results.append(git.run("push", "origin", f"issue-{n + 1}", cwd=w)))
        for n, w in enumerate(clones)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    refs = sorted(RefUpdate.objects.filter(push__invite=created.invite).values_list("ref", flat=True))
    assert refs == ["refs/heads/issue-1", "refs/heads/issue-2", "refs/heads/issue-3"]


def test_the_worker_credential_fetches_a_commit_only_a_hidden_ref_keeps(git, portal_server, created, tmp_path):
    from portal.core.workers import worker_token

    work = _clone(git, portal_server, created, tmp_path / "work")
    git.run("checkout", "-q", "-b", "gone", cwd=work)
    sha = git.commit_file(work, "g.txt", "g\n", "soon deleted")
    git.run("push", "-q", "origin", "gone", cwd=work)
    git.run("push", "-q", "origin", ":gone", cwd=work)
    fetcher = tmp_path / "worker"
    git.run("init", "-q", str(fetcher))
    worker_url = remote_url(portal_server.url, created.invite.public_id, "worker", worker_token())
    git.run("fetch", "-q", worker_url, sha, cwd=fetcher)
    assert git.run("cat-file", "-t", sha, cwd=fetcher).stdout.strip() == "commit"
    push = git.run("push", worker_url, f"{sha}:refs/heads/x", cwd=fetcher, check=False)
    assert push.returncode != 0


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the repository to another user needs root")
def test_a_repository_the_web_server_may_not_use_fails_with_git_s_reason_in_the_log(
    git, portal_server, created, tmp_path
):
    # The web server must run as the data directory's owner; when it does not, git refuses
    # the repository and the operator reads why in the log, not only "500".
    repo = repository_path(created.invite)
    subprocess.run(["chown", "-R", "65534:65534", str(repo)], check=True)
    try:
        result = git.run("clone", "-q", _url(portal_server, created), str(tmp_path / "c"), check=False)
        assert result.returncode != 0
        wait_for_log = portal_server.log
        assert "git http-backend answered 500" in wait_for_log()
        assert "dubious ownership" in wait_for_log()
    finally:
        subprocess.run(["chown", "-R", "0:0", str(repo)], check=True)
