"""What the candidate page says about running each runtime's project locally (portal.assessments.local_run),
for the example packages the repository ships: read from their manifests and shipped folders."""

from grader.manifest import load_manifest
from portal.assessments.local_run import Step, local_run
from tests.conftest import ROOT


def _local(name: str):
    manifest = load_manifest(ROOT / "examples" / name)
    return local_run(manifest, shipped=manifest.shipped_dir)


def test_a_node_project_installs_from_its_lockfile_and_runs_its_test_script():
    run = _local("node-notes")
    assert run.needs == ("Node.js 20",)
    assert run.steps == (
        Step("npm ci", "installs the dependencies package-lock.json pins"),
        Step("npm test", "runs the tests"),
    )
    assert run.variables == ()


def test_a_project_on_postgresql_starts_it_with_its_compose_file_and_names_the_variable():
    run = _local("loans-pg")
    assert run.needs == ("Python 3.11", "PostgreSQL 15")
    assert run.steps[0] == Step("docker compose up -d", "starts PostgreSQL 15 for the project (compose.yaml)")
    assert [step.command for step in run.steps[1:]] == [
        "python3.11 -m venv .venv",
        ". .venv/bin/activate",
        "pip install -r requirements.txt",
        "python -m pytest",
    ]
    assert run.variables == ("DATABASE_URL",)


def test_without_a_compose_file_the_services_are_still_named(tmp_path):
    manifest = load_manifest(ROOT / "examples" / "loans-pg")
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    run = local_run(manifest, shipped=shipped)
    assert "PostgreSQL 15" in run.needs
    assert all(step.command != "docker compose up -d" for step in run.steps)
