"""`manage.py invite --help` lists the assessments it can invite to; the links it prints are on the
address the portal really serves (PORTAL_BASE_URL, or the bind from .env when that is unset)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from portal.hosting.management.commands.invite import Command
from tests.support.workers import database_url, free_port

ROOT = Path(__file__).resolve().parents[3]


def _help() -> str:
    return Command().create_parser("manage.py", "invite").format_help()


def _manage(tmp_path: Path, *args: str, env_lines: tuple[str, ...] = (), **environment: str):
    """manage.py in a process of its own, with a .env of ``env_lines`` and the suite's data directory."""
    env_file = tmp_path / "portal.env"
    env_file.write_text("".join(f"{line}\n" for line in env_lines))
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "PORTAL_BASE_URL", "PORTAL_BIND", "DATABASE_URL"}
    }
    env |= {"PORTAL_ENV_FILE": str(env_file), **environment}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_help_lists_the_installed_assessments_by_slug_and_title(assessment_version):
    text = _help()
    assert "Installed assessments (--assessment takes the slug):\n  library-lending-api  Library lending API\n" in text
    assert "listed below" in text


def test_help_says_when_no_assessment_is_installed(db):
    assert "Installed assessments: none yet (load one with: manage.py load_assessment <folder>)." in _help()


def test_help_before_migrate_says_so_in_one_line(tmp_path):
    result = _manage(tmp_path, "invite", "--help", PORTAL_VAR_DIR=str(tmp_path / "var"))
    assert result.returncode == 0, result.stderr
    assert "Installed assessments: none yet, the database is not migrated (run: manage.py migrate)." in result.stdout
    assert "Traceback" not in result.stderr


def test_help_with_the_database_unreachable_says_so_in_one_line(tmp_path):
    port = free_port()
    lines = (f"DATABASE_URL=postgres://portal:secret@127.0.0.1:{port}/portal",)
    result = _manage(tmp_path, "invite", "--help", env_lines=lines, PORTAL_VAR_DIR=str(tmp_path / "var"))
    assert result.returncode == 0, result.stderr
    assert "Installed assessments: cannot be listed, the database is not reachable (" in result.stdout
    assert "secret" not in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.django_db(transaction=True)
def test_invite_json_links_are_on_the_bind_from_the_env_file(tmp_path, assessment_version):
    port = free_port()
    args = ["invite", "--assessment", "library-lending-api", "--email", "ann@example.com", "--name", "Ann", "--json"]
    result = _manage(
        tmp_path, *args, env_lines=(f"PORTAL_BIND=0.0.0.0:{port}",), DATABASE_URL=database_url(connection.settings_dict)
    )
    assert result.returncode == 0, result.stderr
    invited = json.loads(result.stdout)
    assert invited["link"].startswith(f"http://127.0.0.1:{port}/i/")
    assert invited["clone_url"] == f"http://127.0.0.1:{port}/git/{invited['invite_id']}.git"


@pytest.mark.django_db(transaction=True)
def test_invite_json_links_are_on_the_base_url_when_it_is_set(tmp_path, assessment_version):
    lines = ("PORTAL_BIND=127.0.0.1:8123", "PORTAL_BASE_URL=https://assessments.example.com")
    args = ["invite", "--assessment", "library-lending-api", "--email", "bo@example.com", "--name", "Bo", "--json"]
    result = _manage(tmp_path, *args, env_lines=lines, DATABASE_URL=database_url(connection.settings_dict))
    assert result.returncode == 0, result.stderr
    invited = json.loads(result.stdout)
    assert invited["link"].startswith("https://assessments.example.com/i/")
    assert invited["clone_url"].startswith("https://assessments.example.com/git/")
