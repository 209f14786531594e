"""The worker credential: a random secret per installation, never derived from SECRET_KEY; a host
with neither it nor PORTAL_WORKER_GIT_TOKEN has none, and says so."""

import hashlib
import hmac
import os
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
from django.core.checks import run_checks

from portal.core.checks import check_worker_credential, placeholder_worker_token
from portal.core.workers import (
    NoWorkerCredential,
    has_worker_credential,
    is_worker,
    worker_authorization,
    worker_token,
    worker_token_path,
)
from tests.support.git import GitClient, remote_url
from tests.support.workers import ROOT


def _derived_from(secret_key: str) -> str:
    """The token older versions derived from SECRET_KEY."""
    return hmac.new(secret_key.encode(), b"portal worker git token", hashlib.sha256).hexdigest()


@pytest.fixture
def fresh_data(settings, tmp_path):
    """A data directory no process has used yet, and no PORTAL_WORKER_GIT_TOKEN."""
    settings.PORTAL_DATA_DIR = tmp_path / "data"
    settings.PORTAL_DATA_DIR.mkdir()
    settings.PORTAL_WORKER_GIT_TOKEN = ""
    return settings.PORTAL_DATA_DIR


def test_without_the_variable_the_token_is_a_private_secret_in_the_data_directory(fresh_data, settings):
    token = worker_token()
    path = fresh_data / "secrets" / "worker-git-token"
    assert worker_token_path() == path
    assert path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(token) >= 32
    assert worker_token() == token  # stable across calls
    assert token not in (_derived_from(settings.SECRET_KEY), placeholder_worker_token())
    assert sorted(p.name for p in path.parent.iterdir()) == ["worker-git-token"]  # no temporary file left


def test_each_installation_has_its_own_token(fresh_data, settings, tmp_path):
    first = worker_token()
    settings.PORTAL_DATA_DIR = tmp_path / "other-data"
    assert worker_token() != first


def test_concurrent_first_uses_agree_on_one_token(fresh_data):
    tokens = []
    threads = [threading.Thread(target=lambda: tokens.append(worker_token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 8
    assert len(set(tokens)) == 1
    assert sorted(p.name for p in (fresh_data / "secrets").iterdir()) == ["worker-git-token"]


def test_the_variable_wins_over_the_data_directory(fresh_data, settings):
    settings.PORTAL_WORKER_GIT_TOKEN = "an-operator-chosen-token-of-forty-characters"
    assert worker_token() == "an-operator-chosen-token-of-forty-characters"
    assert not (fresh_data / "secrets").exists()  # nothing made that is not used


def test_an_emptied_token_file_is_a_clear_error(fresh_data):
    path = fresh_data / "secrets" / "worker-git-token"
    worker_token()
    path.write_text("\n")
    with pytest.raises(RuntimeError, match="is empty: delete it and a new token is made"):
        worker_token()


@pytest.mark.skipif(os.geteuid() != 0, reason="writing as the directory's owner is what root does")
def test_root_makes_the_token_file_as_the_data_directory_s_owner(fresh_data):
    os.chown(fresh_data, 65534, 65534)
    worker_token()
    for made in (fresh_data / "secrets", fresh_data / "secrets" / "worker-git-token"):
        assert (made.stat().st_uid, made.stat().st_gid) == (65534, 65534)


def test_a_host_without_data_directory_or_variable_has_no_credential(settings):
    settings.PORTAL_DATA_DIR = None
    settings.PORTAL_WORKER_GIT_TOKEN = ""
    assert not has_worker_credential()
    with pytest.raises(NoWorkerCredential, match="PORTAL_WORKER_GIT_TOKEN is not set"):
        worker_token()
    with pytest.raises(NoWorkerCredential, match=r"the content of <data directory>/secrets/worker-git-token"):
        worker_authorization()
    # Whatever a request claims, no one is the worker here.
    assert not is_worker("worker", "")
    assert not is_worker("worker", _derived_from(settings.SECRET_KEY))


def test_a_host_without_data_directory_uses_the_variable(settings):
    settings.PORTAL_DATA_DIR = None
    settings.PORTAL_WORKER_GIT_TOKEN = "an-operator-chosen-token-of-forty-characters"
    assert is_worker("worker", "an-operator-chosen-token-of-forty-characters")
    assert not is_worker("worker", "an-operator-chosen-token-of-forty-characterz")


def test_a_worker_without_any_credential_refuses_to_start_scoring(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PORTAL_DATA_DIR": "", "PORTAL_VAR_DIR": str(tmp_path)}
    argv = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--queues", "scoring"]
    started = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    lines = [line for line in started.stderr.splitlines() if "Configuration error" in line]
    assert len(lines) == 1, started.stderr
    assert "This host has no worker credential" in lines[0]
    assert "Traceback" not in started.stderr


# --- the system check ---------------------------------------------------------------


def _ids() -> list[str]:
    return [message.id for message in check_worker_credential(None)]


def test_the_check_errs_on_the_token_derived_from_the_placeholder_key(fresh_data, settings):
    settings.PORTAL_WORKER_GIT_TOKEN = placeholder_worker_token()
    assert _ids() == ["portal.E004"]
    assert "portal.E004" in {message.id for message in run_checks()}  # registered


def test_the_check_warns_on_a_short_token(fresh_data, settings):
    settings.PORTAL_WORKER_GIT_TOKEN = "worker123"
    [warning] = check_worker_credential(None)
    assert warning.id == "portal.W004"
    assert "9 characters" in warning.msg


def test_the_check_warns_on_a_host_with_no_credential(settings):
    settings.PORTAL_DATA_DIR = None
    settings.PORTAL_WORKER_GIT_TOKEN = ""
    assert _ids() == ["portal.W005"]


def test_the_check_passes_with_the_data_directory_s_token_or_a_long_one(fresh_data, settings):
    assert _ids() == []
    assert not (fresh_data / "secrets").exists()  # a check reads, never writes
    settings.PORTAL_WORKER_GIT_TOKEN = "an-operator-chosen-token-of-forty-characters"
    assert _ids() == []


# --- against the live endpoints ------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_git_endpoint_takes_the_installation_s_token_and_refuses_derived_ones(
    portal_server, created, settings, tmp_path
):
    # The server and this process share the data directory (and the environment): same token.
    git = GitClient(tmp_path / "home")
    public_id = created.invite.public_id

    def ls_remote(password: str):
        url = remote_url(portal_server.url, public_id, "worker", password)
        return git.run("ls-remote", url, check=False)

    assert ls_remote(worker_token()).returncode == 0
    for derived in (_derived_from(settings.SECRET_KEY), placeholder_worker_token()):
        refused = ls_remote(derived)
        assert refused.returncode != 0
        assert "401" in refused.output or "Authentication failed" in refused.output


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_package_endpoint_refuses_the_token_derived_from_the_placeholder_key(portal_server, assessment_version):
    import base64

    url = f"{portal_server.url}/internal/assessments/{assessment_version.content_hash}.tar.gz"
    authorization = "Basic " + base64.b64encode(f"worker:{placeholder_worker_token()}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": authorization})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401


def test_the_worker_token_command_prints_the_token_alone_or_says_why_there_is_none(fresh_data, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("worker_token", stdout=out)
    assert out.getvalue().strip() == worker_token()
    assert out.getvalue().count("\n") == 1  # one line: what a remote worker's PORTAL_WORKER_GIT_TOKEN takes
    settings.PORTAL_DATA_DIR = None
    with pytest.raises(CommandError, match="PORTAL_WORKER_GIT_TOKEN is not set"):
        call_command("worker_token", stdout=StringIO())
