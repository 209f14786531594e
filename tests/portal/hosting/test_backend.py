"""backend.py on a real repository with the real git-http-backend: the program is started itself,
not through the git wrapper, and the portal's safe configuration and a request's own reach git."""

import io
import subprocess

import gitplumbing
from portal.hosting.backend import BackendRequest, _environment, run_backend


def _repository(tmp_path):
    repo = tmp_path / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(repo)], check=True)
    env = {**gitplumbing.base_env(), **gitplumbing.identity_env("T", "t@example.com")}
    tree = (
        subprocess.run(["git", "--git-dir", str(repo), "mktree"], input=b"", capture_output=True, check=True, env=env)
        .stdout.decode()
        .strip()
    )
    commit = (
        subprocess.run(
            ["git", "--git-dir", str(repo), "commit-tree", tree, "-m", "first"],
            capture_output=True,
            check=True,
            env=env,
        )
        .stdout.decode()
        .strip()
    )
    for ref in ("refs/heads/main", "refs/heads/secret"):
        subprocess.run(["git", "--git-dir", str(repo), "update-ref", ref, commit], check=True)
    return repo


def _advertise(repo, config):
    request = BackendRequest(
        method="GET",
        git_dir=str(repo),
        service_path="info/refs",
        query_string="service=git-upload-pack",
        content_type="",
        content_length=None,
        body=io.BytesIO(b""),
        remote_user="someone",
        remote_addr="127.0.0.1",
        config=config,
    )
    response = run_backend(request, timeout=60)
    try:
        body = b"".join(response.body)
    finally:
        response.close()
    assert response.status == 200
    return body


def test_git_http_backend_is_started_itself_not_through_the_git_wrapper():
    program = gitplumbing.program("http-backend")
    assert len(program) == 1 and program[0].endswith("/git-http-backend")


def test_the_safe_configuration_comes_first_and_the_request_s_after_it(tmp_path):
    request = BackendRequest(
        method="GET", git_dir=str(tmp_path / "r.git"), service_path="info/refs", query_string="",
        content_type="", content_length=None, body=io.BytesIO(b""), remote_user="u", remote_addr="",
        config=[("core.hooksPath", "/hooks")],
    )  # fmt: skip
    env = _environment(request)
    pairs = [(env[f"GIT_CONFIG_KEY_{n}"], env[f"GIT_CONFIG_VALUE_{n}"]) for n in range(int(env["GIT_CONFIG_COUNT"]))]
    assert pairs == [*gitplumbing.SAFE_CONFIG, ("core.hooksPath", "/hooks")]


def test_a_request_s_configuration_reaches_the_git_it_starts(tmp_path):
    repo = _repository(tmp_path)
    assert b"refs/heads/secret" in _advertise(repo, [])
    hidden = _advertise(repo, [("uploadpack.hideRefs", "refs/heads/secret")])
    assert b"refs/heads/main" in hidden and b"refs/heads/secret" not in hidden
