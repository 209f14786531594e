"""Drive the real git client against the portal."""

from __future__ import annotations

import base64
import http.client
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit


@dataclass
class GitResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class GitClient:
    """git with a clean, isolated configuration and no prompts."""

    def __init__(self, home: Path):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Ann Example",
            "GIT_AUTHOR_EMAIL": "ann@example.com",
            "GIT_COMMITTER_NAME": "Ann Example",
            "GIT_COMMITTER_EMAIL": "ann@example.com",
            "LC_ALL": "C",
        }

    def run(self, *args: str, cwd: Path | None = None, check: bool = True, env: dict | None = None) -> GitResult:
        result = subprocess.run(
            ["git", *args], cwd=cwd, env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=180
        )
        outcome = GitResult(result.returncode, result.stdout, result.stderr)
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{outcome.output}")
        return outcome

    def commit_file(self, repo: Path, name: str, content: str | bytes, message: str) -> str:
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        self.run("add", name, cwd=repo)
        self.run("commit", "-q", "-m", message, cwd=repo)
        return self.run("rev-parse", "HEAD", cwd=repo).stdout.strip()


def remote_url(base_url: str, public_id: str, user: str | None = None, password: str | None = None) -> str:
    scheme, rest = base_url.split("://", 1)
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user is not None else ""
    return f"{scheme}://{auth}{rest}/git/{public_id}.git"


def git_service_post(
    base_url: str, public_id: str, password: str, service: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, bytes]:
    """A hand-made smart HTTP POST to ``service`` (git-upload-pack or git-receive-pack) of an invite's
    repository, as the git client would send it (credentials, content type), plus ``headers``:
    for requests the git client never makes. Returns the status and the whole body."""
    parts = urlsplit(base_url)
    credentials = base64.b64encode(f"{public_id}:{password}".encode()).decode()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(
            "POST",
            f"/git/{public_id}.git/{service}",
            body=body,
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": f"application/x-{service}-request",
                **headers,
            },
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
