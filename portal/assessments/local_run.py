"""How a candidate runs the project on their own computer, from its manifest: for the candidate page.

What the portal knows for certain, said the way the runtime's own tools say it: what to install
(the runtime's version, the services beside the app), then the commands that install the
dependencies and run the visible tests. Starting the app is the project's README's to say (an app
serves on whatever its start command names); the page points to it. A project that ships a compose
file gets the command that starts its services first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grader.manifest import Manifest

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
SERVICE_NAMES = {"postgresql": "PostgreSQL 15", "redis": "Redis 7"}
# The variables a run's services set in the sandbox (sandbox.services): the app reads the same ones.
SERVICE_VARIABLES = {"postgresql": "DATABASE_URL", "redis": "REDIS_URL"}


@dataclass(frozen=True)
class Step:
    command: str
    why: str


@dataclass(frozen=True)
class LocalRun:
    needs: tuple[str, ...]  # "Python 3.11", "PostgreSQL 15"
    steps: tuple[Step, ...]
    variables: tuple[str, ...]  # what the app and its tests read to find the services


def local_run(manifest: Manifest, *, shipped: Path) -> LocalRun:
    """The candidate's way to run ``manifest``'s project (its shipped folder is ``shipped``) locally."""
    steps: list[Step] = []
    services = tuple(manifest.services)
    compose = next((name for name in COMPOSE_FILES if (shipped / name).is_file()), None)
    if services and compose:
        names = " and ".join(SERVICE_NAMES.get(name, name) for name in services)
        steps.append(Step("docker compose up -d", f"starts {names} for the project ({compose})"))
    if manifest.runtime_kind == "node":
        needs = (f"Node.js {manifest.node}",)
        steps.append(Step("npm ci", f"installs the dependencies {manifest.requirements} pins"))
        steps.append(Step("npm test" if _has_test_script(shipped) else "node --test", "runs the tests"))
    elif manifest.runtime_kind == "go":
        needs = (f"Go {manifest.go}",)
        steps.append(Step("go build ./...", "compiles the project (standard library and vendored modules only)"))
        steps.append(Step("go test ./...", "runs the tests"))
    else:
        needs = (f"Python {manifest.python}",)
        steps.append(Step(f"python{manifest.python} -m venv .venv", "a virtual environment for the project"))
        steps.append(Step(". .venv/bin/activate", "uses it in this shell"))
        steps.append(Step(f"pip install -r {manifest.requirements}", "installs the pinned dependencies"))
        steps.append(Step("python -m pytest", "runs the tests"))
    return LocalRun(
        needs=needs + tuple(SERVICE_NAMES.get(name, name) for name in services),
        steps=tuple(steps),
        variables=tuple(SERVICE_VARIABLES[name] for name in services if name in SERVICE_VARIABLES),
    )


def _has_test_script(shipped: Path) -> bool:
    try:
        package = json.loads((shipped / "package.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(package, dict) and isinstance(package.get("scripts"), dict) and "test" in package["scripts"]
