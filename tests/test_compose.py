"""The production compose file is valid for the Docker Compose CLI and has what production needs.

There is no Docker engine on the test machines; `docker compose config` validates
and resolves the file without one. The compose CLI comes from requirements-dev.txt
when Docker's own plugin is not installed.
"""

import pytest

from tests.support.compose import ROOT, compose_config, config_command


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
