import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal.assessments.models import Assessment, AssessmentVersion
from portal.assessments.packages import package_hash
from tests.conftest import ROOT

# Validations take minutes of CPU; a busy machine stretches them, and one may wait for another's.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def test_seed_demo_loads_the_built_in_package_once_validated(db, settings, tmp_path, built_in_validated_once):
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out)
    version = AssessmentVersion.objects.get(assessment__slug="library-lending-api")
    assert version.content_hash == package_hash(ROOT / "assessment_app")
    assert version.validation["ok"] is True
    assert f"({version.short_hash}), " in out.getvalue()
    validated_at = version.validated_at
    again = StringIO()
    call_command("load_assessment", str(ROOT / "assessment_app"), stdout=again)
    version.refresh_from_db()
    assert version.validated_at == validated_at  # the same content is not validated twice
    assert "Loaded Library lending API" in again.getvalue()


def test_an_invalid_package_is_refused_with_its_failed_checks_and_nothing_is_registered(db, tmp_path):
    package = tmp_path / "pkg"
    shutil.copytree(ROOT / "assessment_app", package, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    (package / "reference" / "ticket-2.patch").write_text((package / "reference" / "ticket-3.patch").read_text())
    # Decoys are not what this test is about: without them, half the states to run.
    shutil.rmtree(package / "decoys")
    manifest = package / "assessment.toml"
    manifest.write_text(manifest.read_text().replace('decoys = "decoys"', ""))
    out = StringIO()
    with pytest.raises(
        CommandError,
        match=r"Refused: library-lending-api .*: \d+ check\(s\) failed: .*#2 its fix alone makes its hidden tests pass",
    ):
        call_command("load_assessment", str(package), stdout=out)
    assert "FAILED" in out.getvalue()
    assert not Assessment.objects.exists()


def test_a_folder_without_a_manifest_is_refused(db, tmp_path):
    with pytest.raises(CommandError, match=r"holds no assessment\.toml"):
        call_command("load_assessment", str(tmp_path), stdout=StringIO())


def test_a_malformed_manifest_is_refused_with_its_reason(db, tmp_path):
    package = tmp_path / "pkg"
    shutil.copytree(ROOT / "assessment_app", package, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    manifest = package / "assessment.toml"
    manifest.write_text(manifest.read_text().replace('slug = "library-lending-api"', "slug = 42"))
    with pytest.raises(CommandError, match=r"'slug' should be a str"):
        call_command("load_assessment", str(package), stdout=StringIO())
    assert not Assessment.objects.exists()
