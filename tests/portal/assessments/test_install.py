import shutil

from portal.assessments.models import AssessmentVersion
from portal.assessments.packages import package_hash
from portal.assessments.services import assessment_version_install, version_shipped_dir
from tests.conftest import ROOT


def test_installing_twice_gives_one_version_named_by_its_content(db):
    first = assessment_version_install(package_dir=ROOT / "assessment_app")
    second = assessment_version_install(package_dir=ROOT / "assessment_app")
    assert first == second
    assert first.content_hash == package_hash(ROOT / "assessment_app")
    assert first.label == first.manifest["version"]


def test_a_changed_package_is_a_new_version_and_the_old_snapshot_is_untouched(db, tmp_path):
    package = tmp_path / "pkg"
    shutil.copytree(ROOT / "assessment_app", package, ignore=shutil.ignore_patterns("__pycache__"))
    old = assessment_version_install(package_dir=package)
    (package / "project" / "tickets.md").write_text("changed\n")
    new = assessment_version_install(package_dir=package)
    assert new != old and new.content_hash != old.content_hash
    assert (version_shipped_dir(old) / "tickets.md").read_text() != "changed\n"
    assert (version_shipped_dir(new) / "tickets.md").read_text() == "changed\n"
    assert AssessmentVersion.objects.filter(assessment__slug=old.assessment.slug).count() == 2


def test_caches_and_local_databases_do_not_change_the_version(tmp_path):
    package = tmp_path / "pkg"
    shutil.copytree(ROOT / "assessment_app", package, ignore=shutil.ignore_patterns("__pycache__"))
    before = package_hash(package)
    (package / "project" / "__pycache__").mkdir()
    (package / "project" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (package / "project" / "library.db").write_bytes(b"sqlite")
    assert package_hash(package) == before
