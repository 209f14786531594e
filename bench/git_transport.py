"""Git over HTTP through the portal versus the same `git http-backend` behind lighttpd's CGI.

Prints, for a clone, a small push and a 5 MB push, the median time through the portal
(gunicorn, authentication, the push checks, push recording) and through a plain CGI web
server serving a copy of the same repository, and their ratio (goal: <= 1.1).

Needs lighttpd (`apt-get install lighttpd`; `make bench` installs it as root).
Everything runs on 127.0.0.1 in a temporary directory and stops by itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import free_port, production_settings, wait_http

ROOT = Path(__file__).resolve().parents[1]
REPEAT = int(os.environ.get("BENCH_REPEAT", "7"))
PYTHON = sys.executable


def git(*args: str, cwd: Path | None = None, env: dict | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def portal(tmp: Path) -> tuple[subprocess.Popen, str, Path]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_VAR_DIR": str(tmp / "var"),
        "PORTAL_DATA_DIR": str(tmp / "var" / "data"),
        "LOG_LEVEL": "WARNING",
        **production_settings(),
    }
    for key in ("DATABASE_URL", "CELERY_BROKER_URL"):
        env.pop(key, None)
    port = free_port()
    env["PORTAL_BASE_URL"] = f"http://127.0.0.1:{port}"
    env["PORTAL_BIND"] = f"127.0.0.1:{port}"
    manage = [PYTHON, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "shell", "-c", "from portal.assessments.services import assessment_version_install as i; "
         "from pathlib import Path; i(package_dir=Path('assessment_app'))"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    result = subprocess.run(
        [*manage, "invite", "--assessment", "library-lending-api", "--email", "bench@example.com",
         "--name", "Bench", "--json"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    invite = json.loads(result.stdout)
    server = subprocess.Popen(
        [str(Path(PYTHON).parent / "gunicorn"), "portal.wsgi", "--config", "portal/gunicorn.conf.py",
         "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_http(f"http://127.0.0.1:{port}/healthz")
    url = f"http://{invite['git_username']}:{invite['git_password']}@127.0.0.1:{port}/git/{invite['invite_id']}.git"
    return server, url, tmp / "var" / "data" / "repos" / f"{invite['invite_id']}.git"


def lighttpd(tmp: Path, source_repo: Path) -> tuple[subprocess.Popen, str]:
    root = tmp / "plain"
    root.mkdir()
    git("clone", "-q", "--bare", str(source_repo), str(root / "repo.git"))
    git("config", "http.receivepack", "true", cwd=root / "repo.git")
    port = free_port()
    backend = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip()
    config = tmp / "lighttpd.conf"
    config.write_text(
        f"""
server.modules = ("mod_alias", "mod_cgi", "mod_setenv")
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{tmp}/lighttpd-error.log"
alias.url = ("/git" => "{backend}/git-http-backend")
$HTTP["url"] =~ "^/git" {{
    cgi.assign = ("" => "")
    setenv.add-environment = (
        "GIT_PROJECT_ROOT" => "{root}",
        "GIT_HTTP_EXPORT_ALL" => "",
        "REMOTE_USER" => "bench"
    )
}}
"""
    )
    server = subprocess.Popen(["lighttpd", "-D", "-f", str(config)], start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/git/repo.git/info/refs?service=git-upload-pack")
    return server, f"http://127.0.0.1:{port}/git/repo.git"


def measure(url: str, tmp: Path, label: str, n: int) -> dict[str, float]:
    """One round against ``url``: a clone, a small push and a 5 MB push, each timed (seconds)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp / f"home-{label}"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    times: dict[str, float] = {}
    work = tmp / f"{label}-{n}"
    started = time.perf_counter()
    git("clone", "-q", url, str(work), env=env)
    times["clone"] = time.perf_counter() - started

    git("checkout", "-q", "-b", f"small-{label}-{n}", cwd=work, env=env)
    (work / "small.txt").write_text(f"{n}\n")
    git("add", "small.txt", cwd=work, env=env)
    git("commit", "-q", "-m", "small", cwd=work, env=env)
    started = time.perf_counter()
    git("push", "-q", "origin", f"small-{label}-{n}", cwd=work, env=env)
    times["small push"] = time.perf_counter() - started

    git("checkout", "-q", "-b", f"big-{label}-{n}", cwd=work, env=env)
    (work / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024))
    git("add", "big.bin", cwd=work, env=env)
    git("commit", "-q", "-m", "big", cwd=work, env=env)
    started = time.perf_counter()
    git("push", "-q", "origin", f"big-{label}-{n}", cwd=work, env=env)
    times["5 MB push"] = time.perf_counter() - started
    shutil.rmtree(work)
    return times


def main() -> int:
    if not shutil.which("lighttpd"):
        print("lighttpd is not installed (apt-get install lighttpd); it is the CGI baseline.", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-git-") as scratch:
        tmp = Path(scratch)
        servers = []
        try:
            portal_server, portal_url, repo = portal(tmp)
            servers.append(portal_server)
            plain_server, plain_url = lighttpd(tmp, repo)
            servers.append(plain_server)
            # One warm-up round each, so that neither pays for cold caches.
            measure(portal_url, tmp, "warm-portal", 0)
            measure(plain_url, tmp, "warm-plain", 0)
            # Rounds alternate between the two (and which goes first): a machine that slows down
            # for a while slows both, rather than whichever happened to be measured then.
            portal_times: dict[str, list[float]] = {}
            plain_times: dict[str, list[float]] = {}
            for n in range(REPEAT):
                order = [("portal", portal_url, portal_times), ("plain", plain_url, plain_times)]
                for label, url, times in order if n % 2 == 0 else reversed(order):
                    for operation, seconds in measure(url, tmp, label, n).items():
                        times.setdefault(operation, []).append(seconds)
        finally:
            for server in servers:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
    print(
        f"git over HTTP, median of {REPEAT} rounds each, alternating (portal under gunicorn, as production runs it, "
        "vs git http-backend under lighttpd CGI)"
    )
    print(f"{'operation':<12} {'portal':>10} {'lighttpd':>10} {'ratio':>7}")
    for operation in portal_times:
        ours = statistics.median(portal_times[operation])
        theirs = statistics.median(plain_times[operation])
        print(f"{operation:<12} {ours * 1000:>8.1f}ms {theirs * 1000:>8.1f}ms {ours / theirs:>7.2f}")
    print("goal: ratio <= 1.1 (the portal also authenticates, checks and records each push, and keeps its commits)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
