"""deploy/*.service, the systemd units of a hand install: each starts what compose (and, for the
web server, the Procfile) starts, as the user compose runs it as, from the checkout's virtualenv
with the checkout's .env, stops the way Celery and gunicorn need, and systemd accepts it.
tests/test_topology.py starts the production topology from these very units."""

import importlib.util
import os
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from celery.bin.celery import celery as celery_command
from django.conf import settings
from django.core.management import get_commands

from portal.env import ENV_FILE
from tests.support.compose import compose_config
from tests.support.processes import procfile_command
from tests.support.systemd import INSTALL_ROOT, ROOT, Unit, read_unit, unit_names

# Each unit and the compose service whose command it runs, with the options it sets otherwise: a
# worker on another host consumes the scoring queue only (docs/operations.md's `docker run`).
SERVICES = {
    "portal-migrate": ("migrate", {}),
    "portal-web": ("web", {}),
    "portal-worker": ("worker", {}),
    "portal-scorer": ("worker", {"--queues": "scoring", "--hostname": "scorer@%h"}),
    "portal-beat": ("beat", {}),
}
LONG_RUNNING = ["portal-web", "portal-worker", "portal-scorer", "portal-beat"]
WORKERS = ["portal-worker", "portal-scorer"]


@pytest.fixture(scope="module")
def services() -> dict:
    return compose_config()["services"]


def test_there_is_a_unit_for_each_process_of_the_topology():
    assert unit_names() == sorted(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_unit_runs_its_compose_services_command_from_the_checkouts_virtualenv(name, services):
    service, options = SERVICES[name]
    program, *args = read_unit(name).argv()
    assert program == f"{INSTALL_ROOT}/.venv/bin/{Path(program).name}"
    expected = list(services[service]["command"])
    for option, value in options.items():
        expected[expected.index(option) + 1] = value
    assert [Path(program).name, *args] == expected


def test_the_units_start_what_the_procfile_starts():
    program, *args = read_unit("portal-web").argv(root=ROOT)
    assert shlex.split(procfile_command("web")) == ["exec", str(Path(program).relative_to(ROOT)), *args]
    # The Procfile's worker embeds beat and takes both queues for a laptop; the program is the same.
    program, *args = read_unit("portal-worker").argv(root=ROOT)
    local = shlex.split(procfile_command("worker"))
    assert local[:5] == ["exec", str(Path(program).relative_to(ROOT)), *args[:3]]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_unit_names_a_program_and_a_module_or_command_that_exist(name):
    program, *args = read_unit(name).argv()
    beside_this_python = Path(sys.executable).with_name(Path(program).name)
    assert os.access(beside_this_python, os.X_OK), f"{program}: no such program in the virtualenv"
    match args:
        case ["-m", module]:
            assert importlib.util.find_spec(module) is not None, module
        case ["manage.py", command, *_]:
            assert command in get_commands()
        case ["-A", "portal", command, *_]:
            assert command in celery_command.commands
        case _:
            pytest.fail(f"{name}: an ExecStart this test does not know: {args}")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_unit_runs_as_its_compose_service_does_in_the_checkout_with_its_env_file(name, services):
    unit = read_unit(name)
    # Compose runs its services as the image's unprivileged `portal` user unless it says root.
    runs_as_root = services[SERVICES[name][0]].get("user") == "root"
    assert unit.user == ("root" if runs_as_root else "portal")
    assert unit.value("Service", "WorkingDirectory") == INSTALL_ROOT
    # The file systemd loads is the one manage.py, typed by hand, reads.
    assert unit.path("EnvironmentFile", root=ROOT) == str(ENV_FILE)


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_units_restart_on_failure_and_start_at_boot(name):
    unit = read_unit(name)
    assert unit.value("Service", "Type") == "exec"  # a program that cannot start fails the start
    assert unit.value("Service", "Restart") == "on-failure"
    assert unit.value("Install", "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("name", ["portal-web", "portal-worker", "portal-beat"])
def test_processes_beside_the_database_migrate_it_first(name):
    unit = read_unit(name)
    assert "portal-migrate.service" in unit.value("Unit", "Requires").split()
    assert "portal-migrate.service" in unit.value("Unit", "After").split()
    assert read_unit("portal-migrate").value("Service", "Type") == "oneshot"


def test_a_worker_on_another_host_needs_no_migration():
    assert read_unit("portal-scorer").value("Unit", "Requires") is None


@pytest.mark.parametrize("name", WORKERS)
def test_workers_stop_warm_and_get_time_to_finish_a_run(name):
    unit = read_unit(name)
    # SIGTERM to Celery's main process alone; it lets its pool finish the tasks it holds.
    assert unit.value("Service", "KillMode") == "mixed"
    assert int(unit.value("Service", "TimeoutStopSec")) > settings.CELERY_TASK_TIME_LIMIT
    assert unit.value("Service", "Delegate") == "yes"  # the sandbox's cgroups below the worker's own


def test_the_web_server_stops_gracefully():
    unit = read_unit("portal-web")
    graceful = runpy.run_path(str(ROOT / "portal" / "gunicorn.conf.py"))["graceful_timeout"]
    assert unit.value("Service", "KillMode") == "mixed"
    assert int(unit.value("Service", "TimeoutStopSec")) > graceful


def test_beat_keeps_its_schedule_in_a_tmp_of_its_own():
    unit = read_unit("portal-beat")
    schedule = unit.argv()[unit.argv().index("--schedule") + 1]
    assert schedule.startswith("/tmp/")
    assert unit.value("Service", "PrivateTmp") == "yes"


def test_a_specifier_systemd_would_replace_is_refused():
    unit = Unit(name="portal-worker", sections={"Service": {"ExecStart": ["/bin/celery --hostname worker@%h"]}})
    with pytest.raises(ValueError, match="the specifier %h in ExecStart; systemd replaces it"):
        unit.argv()


def test_systemd_accepts_the_units(tmp_path):
    # systemd-analyze is a test package (Makefile TEST_OS_PACKAGES): missing, this test fails, never skips.
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is not installed (Debian package systemd): make os-packages-test"
    for name in unit_names():
        text = (ROOT / "deploy" / f"{name}.service").read_text()
        # Where this checkout and its virtualenv are, so that systemd finds each program.
        text = text.replace(f"{INSTALL_ROOT}/.venv", sys.prefix).replace(INSTALL_ROOT, str(ROOT))
        (tmp_path / f"{name}.service").write_text(text)
    paths = [str(tmp_path / f"{name}.service") for name in unit_names()]
    result = subprocess.run([analyze, "verify", *paths], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")  # an unknown key or a bad value is only a warning
