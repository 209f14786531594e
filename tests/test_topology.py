"""The production topology of a hand install, on PostgreSQL and Redis: each process is started from
its systemd unit in deploy/ (its ExecStart, User= and EnvironmentFile=, with the test's checkout
where the units say /opt/assessment-portal), which runs the commands docker-compose.yml runs.

- migrate, web and beat run as an unprivileged user (nobody here, `portal` in the units and the
  image) that owns the data directory;
- a scoring worker runs as root with the data directory (portal-worker, compose's `worker`);
- a second worker runs as root on "another host" (portal-scorer): no data directory, a cache of
  its own, only the database, the broker and the portal's internal URL.

The checkout's `.env` is the documented production one: DEBUG off, a real SECRET_KEY, an https
PORTAL_BASE_URL behind a proxy, and PORTAL_INTERNAL_URL for the workers. The units' processes get
it as systemd gives an EnvironmentFile; one-off commands (`manage.py invite`...) read it themselves,
as when an operator types them. The test invites, clones, pushes, scores on both workers and
integrates; then backs up the database and the data directory and restores them elsewhere (another
database, another path), where the portal still serves the repository, takes a push and creates
invites.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from portal.env import read_env_file
from portal.hosting.models import Push
from portal.invites.models import Invite
from portal.scoring.analysis import INTEGRATED_REF
from portal.scoring.models import InviteAnalysis, Run
from tests.conftest import ROOT
from tests.support.git import GitClient
from tests.support.image import OWNER, Image, build_image, foreign_files, open_folder
from tests.support.processes import stop_group
from tests.support.server import healthy
from tests.support.systemd import Unit, read_unit, unit_names
from tests.support.workers import as_user, database_url, free_port, wait_for

PATCHES = ROOT / "assessment_app" / "reference"
# What a process has before its configuration: systemd gives a service a PATH and a locale.
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/nonexistent",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def _production_stack() -> bool:
    return (
        os.geteuid() == 0
        and Path("/usr/bin/python3.11").exists()
        and connection.vendor == "postgresql"
        and settings.CELERY_BROKER_URL.startswith("redis")
    )


pytestmark = [
    pytest.mark.engines,
    pytest.mark.integration,
    pytest.mark.timeout(1200),
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not _production_stack(),
        reason="the production topology runs on PostgreSQL and Redis, as root (CI's second leg)",
    ),
]


@dataclass
class Deployment:
    root: Path
    image: Image  # the checkout (image.app), with its .venv and its .env, as the units expect it
    env: dict[str, str]  # the production configuration, written to the checkout's .env
    port: int
    logs: Path
    units: dict[str, Unit]  # deploy/portal-<name>.service by name: each process runs its unit's command as its user
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def configure(self, **values: str) -> None:
        """Change the checkout's .env, as an operator edits it before restarting the units."""
        self.env.update(values)
        env_file = self.image.app / ".env"
        assert not any("'" in value for value in self.env.values())
        env_file.write_text("".join(f"{name}='{value}'\n" for name, value in self.env.items()))
        # Readable by the unprivileged user's group only: it holds SECRET_KEY and the database password.
        env_file.chmod(0o640)
        os.chown(env_file, 0, OWNER[1])

    def argv(self, unit: str, **options: str) -> list[str]:
        """The unit's ExecStart in this checkout; ``options`` replace the values of its --options (queues="scoring")."""
        command = self.units[unit].argv(root=self.image.app)
        for name, value in options.items():
            command[command.index(f"--{name}") + 1] = value
        return command

    def user(self, unit: str):
        """root where the unit says so, else the image's unprivileged user (the data directory's owner)."""
        assert self.units[unit].user in ("root", "portal"), self.units[unit].user
        return None if self.units[unit].user == "root" else OWNER

    def unit_env(self, unit: str) -> dict[str, str]:
        """The environment systemd gives the unit's process: its EnvironmentFile over its Environment=."""
        env_file = Path(self.units[unit].path("EnvironmentFile", root=self.image.app))
        from_file = read_env_file(env_file.read_text(), source=env_file)
        return {**BASE_ENV, **self.units[unit].environment(), **from_file}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, *argv: str, user=None, env: dict[str, str] | None = None, timeout: float = 600) -> str:
        """A one-off command as an operator types it in the checkout (`.venv/bin/python manage.py ...`),
        reading the checkout's .env itself; its output, or a failure with it."""
        python = str(self.image.app / ".venv" / "bin" / "python")
        return self._finish([python, *argv], user=user, env={**BASE_ENV, **(env or {})}, timeout=timeout)

    def run_unit(self, unit: str) -> str:
        """A oneshot unit (portal-migrate), to its end."""
        return self._finish(self.argv(unit), user=self.user(unit), env=self.unit_env(unit), timeout=600)

    def _finish(self, argv: list[str], *, user, env: dict[str, str], timeout: float) -> str:
        done = subprocess.run(
            argv, cwd=self.image.app, env=env, capture_output=True, text=True, timeout=timeout, **as_user(user)
        )
        assert done.returncode == 0, f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, unit: str, *, env: dict[str, str] | None = None, **options: str) -> None:
        """Start ``unit`` as the process ``name``, as systemd would; ``env`` adds to its environment."""
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            self.argv(unit, **options),
            cwd=self.units[unit].path("WorkingDirectory", root=self.image.app),
            env={**self.unit_env(unit), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **as_user(self.user(unit)),
        )
        log.close()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str) -> None:
        stop_group(self.processes.pop(name))

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def start_web(self, name: str = "web", env: dict[str, str] | None = None, port: int | None = None) -> str:
        port = port or self.port
        self.start(name, "web", env={"PORTAL_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", **(env or {})})
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: self._exited(name) or healthy(url), timeout=60, what=name)
        assert not self._exited(name), self.log(name)
        return url

    def start_worker(
        self, name: str, *, unit: str = "worker", queues: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        options = {"concurrency": "1", "hostname": f"{name}@%h", **({"queues": queues} if queues else {})}
        self.start(name, unit, env=env, **options)
        wait_for(lambda: self._exited(name) or " ready." in self.log(name), timeout=90, what=name)
        assert not self._exited(name), self.log(name)

    def _exited(self, name: str) -> bool:
        return self.processes[name].poll() is not None


def _owned_folder(path: Path, owner=OWNER, mode: int = 0o700) -> Path:
    path.mkdir(mode=mode, parents=True)
    path.chmod(mode)
    os.chown(path, *owner)
    return path


@contextmanager
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    root = open_folder("topology-")
    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        image = build_image(root / "app")
        # The checkout's virtualenv, where `make setup` puts it and the units look for it.
        (image.app / ".venv").symlink_to(image.venv, target_is_directory=True)
        port = free_port()
        env = {
            # The documented production .env, unchanged in kind.
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "PORTAL_BASE_URL": "https://assessments.example.com",
            "TRUST_X_FORWARDED_PROTO": "true",
            "PORTAL_INTERNAL_URL": f"http://127.0.0.1:{port}",
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PORTAL_DATA_DIR": str(_owned_folder(root / "data")),
            "PORTAL_VAR_DIR": str(_owned_folder(root / "var", mode=0o755)),
            # The runtime the suite built already: the worker with the data directory reuses it.
            "PORTAL_CACHE_DIR": str(settings.PORTAL_CACHE_DIR),
        }
        units = {name.removeprefix("portal-"): read_unit(name) for name in unit_names()}
        deployed = Deployment(root=root, image=image, env={}, port=port, logs=logs, units=units)
        deployed.configure(**env)
        stack.callback(deployed.stop_all)
        yield deployed


def _remote_worker_env(deployed: Deployment) -> dict[str, str]:
    cache = deployed.root / "remote-cache"
    # As docs/operations.md says: the worker credential the web server keeps in its data directory.
    token = deployed.command("manage.py", "worker_token", user=deployed.user("web")).strip()
    return {
        "PORTAL_DATA_DIR": "",  # another host: no data directory
        "PORTAL_WORKER_GIT_TOKEN": token,
        "PORTAL_CACHE_DIR": str(cache),
        "PORTAL_VAR_DIR": str(_owned_folder(deployed.root / "remote-var", owner=(0, 0), mode=0o755)),
    }


def _wait_scored(invite: Invite, commits: set[str], timeout: float = 300) -> dict[str, Run]:
    def done():
        runs = {r.commit: r for r in Run.objects.filter(invite=invite, commit__in=commits)}
        if len(runs) == len(commits) and all(r.finished for r in runs.values()):
            return runs
        return None

    return wait_for(done, timeout=timeout, interval=0.5, what=f"runs of {sorted(c[:7] for c in commits)}")


def _wait_analysed(invite: Invite, timeout: float = 120) -> dict:
    def done():
        analysis = InviteAnalysis.objects.filter(invite=invite).first()
        return analysis if analysis is not None and not analysis.pending and analysis.result else None

    return wait_for(done, timeout=timeout, interval=0.5, what="the analysis").result


def _push_fix(git: GitClient, work: Path, ticket: int) -> str:
    git.run("checkout", "-q", "-B", f"issue-{ticket}", "origin/main", cwd=work)
    git.run("apply", str(PATCHES / f"ticket-{ticket}.patch"), cwd=work)
    git.run("commit", "-q", "-am", f"Fix: Resolve issue #{ticket} - reference fix", cwd=work)
    git.run("push", "-q", "origin", f"issue-{ticket}", cwd=work)
    return git.run("rev-parse", "HEAD", cwd=work).stdout.strip()


def test_the_production_topology_invites_clones_pushes_scores_integrates_and_restores(tmp_path):
    with deployment(tmp_path) as deployed:
        # migrate as the web user; the assessment loaded as root (it runs the sandbox), as documented.
        deployed.run_unit("migrate")
        loaded = deployed.command("manage.py", "load_assessment", "assessment_app", user=deployed.user("worker"))
        assert "Loaded" in loaded
        assert foreign_files(Path(deployed.env["PORTAL_DATA_DIR"])) == []

        deployed.start_web()
        # The unit's schedule is in a /tmp of its own (PrivateTmp=); here, in the deployment's folder.
        deployed.start("beat", "beat", schedule=str(deployed.root / "var" / "beat"))
        deployed.start_worker("worker")

        # An invite made as the web server's user, as an operator types it.
        made = json.loads(
            deployed.command(
                "manage.py", "invite", "--assessment", "library-lending-api", "--name", "Ann Example",
                "--email", "ann@example.com", "--json", user=deployed.user("web"),
            )
        )  # fmt: skip
        assert made["clone_url"].startswith("https://assessments.example.com/git/")
        invite = Invite.objects.get(public_id=made["invite_id"])

        # The candidate clones and pushes (through the internal address: no proxy in this test).
        git = GitClient(tmp_path / "home")
        remote = f"http://{made['git_username']}:{made['git_password']}@127.0.0.1:{deployed.port}/git/{made['invite_id']}.git"
        work = tmp_path / "work"
        git.run("clone", "-q", remote, str(work))
        first = _push_fix(git, work, 1)

        runs = _wait_scored(invite, {invite.repository.base_commit, first})
        assert {r.status for r in runs.values()} <= {Run.Status.PASSED, Run.Status.FAILED}, [
            (r.ref, r.status, r.reason) for r in runs.values()
        ]
        assert {v.ticket for v in runs[first].verdicts.filter(passed=True)} == {1}

        # Now only the worker of another host scores; the one with the data directory keeps the
        # default queue (analysis, integration), as a scaled-out deployment would run them.
        deployed.stop("worker")
        deployed.start_worker("worker-default", queues="default")
        remote_env = _remote_worker_env(deployed)
        deployed.start_worker("remote", unit="scorer", env=remote_env)

        second = _push_fix(git, work, 2)
        result = wait_for(
            lambda: (r := _wait_analysed(invite))["integrated"] and r["integrated"]["head"] and r,
            timeout=120,
            interval=0.5,
            what="the integration",
        )
        integrated = result["integrated"]["head"]
        runs = _wait_scored(invite, {second, integrated})
        assert {r.status for r in runs.values()} <= {Run.Status.PASSED, Run.Status.FAILED}, [
            (r.ref, r.status, r.reason) for r in runs.values()
        ]
        assert runs[integrated].ref == INTEGRATED_REF
        assert {v.ticket for v in runs[second].verdicts.filter(passed=True)} == {2}
        assert {v.ticket for v in runs[integrated].verdicts.filter(passed=True)} == {1, 2}
        # The remote worker scored them from what it fetched: the package by hash, the commits by id.
        cache = Path(remote_env["PORTAL_CACHE_DIR"])
        assert (cache / "assessments" / invite.assessment_version.content_hash / "assessment.toml").is_file()
        assert (cache / "repos" / f"{invite.public_id}.git").is_dir()
        assert (cache / "runtimes").is_dir()  # built on first use
        assert "Task scoring.run[" in deployed.log("remote")  # the only worker on the scoring queue now
        assert "Task scoring.run[" not in deployed.log("worker-default")

        # One owner: everything root wrote in the data directory (snapshot, integration objects
        # and refs) belongs to the web server's user, which still serves every ref.
        data = Path(deployed.env["PORTAL_DATA_DIR"])
        assert foreign_files(data) == []
        git.run("fetch", "-q", "origin", cwd=work)
        report = json.loads(deployed.command("manage.py", "report", invite.public_id, "--json"))
        assert report["analysis"]["error"] == ""  # hygiene and quality read the repository as root
        assert [t["passed"] for t in report["tickets"]][:2] == [True, True]

        _backup_and_restore_elsewhere(deployed, invite, made, tmp_path)


def _backup_and_restore_elsewhere(deployed: Deployment, invite: Invite, made: dict, tmp_path: Path) -> None:
    """docs/operations.md's backup and restore: pg_dump plus the data directory, restored to
    another database and another path, then used by a web server there."""
    deployed.stop_all()
    db = connection.settings_dict
    pg = ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"] or "postgres"]
    dump = tmp_path / "portal.dump"
    subprocess.run(["pg_dump", *pg, "--format=custom", "--file", str(dump), db["NAME"]], check=True, timeout=120)
    archive = tmp_path / "data.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(deployed.env["PORTAL_DATA_DIR"], arcname="data")

    restored_db = f"restore_{uuid.uuid4().hex[:10]}"
    subprocess.run(["createdb", *pg, restored_db], check=True, timeout=60)
    try:
        restore = ["pg_restore", *pg, "--no-owner", "--no-privileges", "--single-transaction", "--dbname", restored_db]
        subprocess.run([*restore, str(dump)], check=True, timeout=120)
        elsewhere = _owned_folder(deployed.root / "restored", mode=0o755)
        with tarfile.open(archive) as tar:
            tar.extractall(elsewhere, numeric_owner=True)  # noqa: S202 - our own archive
        shutil.rmtree(deployed.env["PORTAL_DATA_DIR"])  # the old place is gone
        deployed.configure(
            PORTAL_DATA_DIR=str(elsewhere / "data"),
            DATABASE_URL=deployed.env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{restored_db}",
        )
        url = deployed.start_web(name="restored-web")

        git = GitClient(tmp_path / "home-restored")
        remote = f"http://{made['git_username']}:{made['git_password']}@{url.removeprefix('http://')}/git/{made['invite_id']}.git"
        work = tmp_path / "work-restored"
        git.run("clone", "-q", remote, str(work))
        branches = git.run("branch", "-r", cwd=work).stdout
        assert "origin/issue-1" in branches and "origin/issue-2" in branches
        _push_fix(git, work, 4)  # the hooks and the push log work in the new place
        # As the TLS proxy forwards it (candidate pages are served over https only).
        page = made["link"].removeprefix(deployed.env["PORTAL_BASE_URL"])
        request = urllib.request.Request(f"{url}{page}bundle", headers={"X-Forwarded-Proto": "https"})
        with urllib.request.urlopen(request, timeout=10) as bundle:
            assert bundle.read(20).startswith(b"# v2 git bundle")
        # The version's snapshot is found in the new place: a new invite is made from it.
        again = json.loads(
            deployed.command(
                "manage.py", "invite", "--assessment", "library-lending-api", "--name", "Bo Example",
                "--email", "bo@example.com", "--json", user=deployed.user("web"),
            )
        )  # fmt: skip
        assert (elsewhere / "data" / "repos" / f"{again['invite_id']}.git").is_dir()
        deployed.stop_all()
        # The push went to the restored database, not the original one.
        assert Push.objects.filter(invite=invite).count() == 2
    finally:
        deployed.stop_all()
        connection.close()
        time.sleep(0.5)
        subprocess.run(["dropdb", *pg, "--if-exists", "--force", restored_db], check=False, timeout=60)
