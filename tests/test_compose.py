"""The production compose file is valid for the Docker Compose CLI and has what production needs.

There is no Docker engine on the test machines; `docker compose config` validates
and resolves the file without one. The compose CLI comes from requirements-dev.txt
when Docker's own plugin is not installed.
"""

import json
import re
import runpy

import pytest

from tests.support.compose import ROOT, compose_config, config_command

# What portal/settings.py reads for mail; compose passes each through with a default of its own.
EMAIL_SETTINGS = (
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "EMAIL_TIMEOUT",
    "DEFAULT_FROM_EMAIL",
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_config()


def test_docker_compose_config_accepts_the_file():
    result = config_command(ROOT / "docker-compose.yml", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_validator_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("healthcheck:", "healthchek:", 1))
    result = config_command(broken, "--quiet")
    assert result.returncode != 0
    assert "healthchek" in result.stderr


def test_it_runs_every_production_service(compose):
    assert set(compose["services"]) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert set(compose["volumes"]) >= {"postgres-data", "portal-data"}


def test_long_running_services_have_health_checks(compose):
    for name in ("postgres", "redis", "web", "worker"):
        assert compose["services"][name]["healthcheck"]["test"], name


def test_the_worker_consumes_the_scoring_queue_and_can_start_the_sandbox(compose):
    worker = compose["services"]["worker"]
    assert "scoring,default" in worker["command"]
    assert "seccomp=unconfined" in worker["security_opt"]
    assert worker["environment"]["CELERY_BROKER_URL"].startswith("redis://")


def test_web_and_worker_share_the_data_directory_and_run_in_production_mode(compose):
    for name in ("web", "worker"):
        service = compose["services"][name]
        assert service["environment"]["DEBUG"] == "false"
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert {"type": "volume", "source": "portal-data", "target": "/data", "volume": {}} in service["volumes"]


def test_only_the_processes_that_use_the_data_directory_mount_it(compose):
    data = {"type": "volume", "source": "portal-data", "target": "/data", "volume": {}}
    mounting = {name for name, service in compose["services"].items() if data in service.get("volumes", [])}
    assert mounting == {"migrate", "web", "worker"}  # beat only sends tasks


def test_only_the_worker_runs_as_root_and_it_has_a_cache_of_its_own(compose):
    services = compose["services"]
    assert [name for name in ("migrate", "web", "worker", "beat") if services[name].get("user") == "root"] == ["worker"]
    cache = {"type": "volume", "source": "worker-cache", "target": "/cache", "volume": {}}
    assert cache in services["worker"]["volumes"]
    assert services["worker"]["environment"]["PORTAL_CACHE_DIR"] == "/cache"


def test_workers_reach_the_web_server_at_its_internal_address(compose):
    for name in ("web", "worker"):
        assert compose["services"][name]["environment"]["PORTAL_INTERNAL_URL"] == "http://web:8000"


def _compose_defaults() -> dict[str, str]:
    """The default of each ``${NAME:-default}`` among the portal's email variables in the compose file."""
    result = config_command(ROOT / "docker-compose.yml", "--no-interpolate", "--format", "json")
    assert result.returncode == 0, result.stderr
    environment = json.loads(result.stdout)["services"]["web"]["environment"]
    defaults = {}
    for name in EMAIL_SETTINGS:
        written = re.fullmatch(rf"\$\{{{name}:-(.*)\}}", environment.get(name, ""), re.S)
        assert written, f"compose passes {name} as {environment.get(name)!r}, not as ${{{name}:-default}}"
        defaults[name] = written.group(1)
    return defaults


def _email_settings(monkeypatch, tmp_path, **environment: str) -> dict:
    """The mail settings portal/settings.py makes of ``environment`` (the email variables otherwise unset)."""
    for name in EMAIL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = runpy.run_path(str(ROOT / "portal" / "settings.py"))
    return {name: settings.get(name) for name in [*EMAIL_SETTINGS, "EMAIL_BACKEND"]}


def test_compose_passes_every_email_setting_with_the_portals_own_defaults(monkeypatch, tmp_path):
    defaults = _compose_defaults()
    # Compose's defaults, passed, mean what nothing set means: with and without a mail server.
    assert _email_settings(monkeypatch, tmp_path, **defaults) == _email_settings(monkeypatch, tmp_path)
    server = {"EMAIL_HOST": "smtp.example.com"}
    passed = _email_settings(monkeypatch, tmp_path, **{**defaults, **server})
    assert passed == _email_settings(monkeypatch, tmp_path, **server)
    assert passed["EMAIL_PORT"] == 25


def test_the_readme_gives_the_same_email_defaults_as_compose():
    readme = {}
    for row in re.findall(r"^\| (`[A-Z_]+`.*?) \| (.*?) \|", (ROOT / "README.md").read_text(), re.M):
        default = re.match(r"`([^`]*)`", row[1])
        for name in re.findall(r"`([A-Z_]+)`", row[0]):
            readme[name] = default.group(1) if default else ("" if row[1] == "empty" else row[1])
    assert {name: readme.get(name) for name in EMAIL_SETTINGS} == _compose_defaults()
