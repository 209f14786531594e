from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import transaction

from assessment_app.grader.manifest import Manifest, load_manifest
from portal.assessments.models import Assessment, AssessmentVersion
from portal.assessments.packages import package_hash, package_snapshot


def _manifest_json(manifest: Manifest) -> dict:
    data = asdict(manifest)
    # Paths point into the source folder; the snapshot is where the version lives.
    for key in ("root", "shipped_dir", "hidden_tests_dir", "reference_dir"):
        data[key] = Path(data[key]).relative_to(manifest.root).as_posix() if key != "root" else "."
    return data


@transaction.atomic
def assessment_version_install(*, package_dir: Path) -> AssessmentVersion:
    """Register the package at ``package_dir`` as a version (its content hash); idempotent.

    The package is copied into the data directory first, so later edits to the
    source folder never change what existing invites were created with.
    """
    source = Path(package_dir).resolve()
    manifest = load_manifest(source)
    content_hash = package_hash(source)
    snapshot = package_snapshot(source, settings.PORTAL_DATA_DIR / "assessments" / manifest.slug / content_hash)
    assessment, created = Assessment.objects.get_or_create(slug=manifest.slug, defaults={"title": manifest.title})
    if not created and assessment.title != manifest.title:
        assessment.title = manifest.title
        assessment.save(update_fields=["title"])
    version, _ = AssessmentVersion.objects.get_or_create(
        assessment=assessment,
        content_hash=content_hash,
        defaults={
            "label": manifest.version,
            "manifest": _manifest_json(manifest),
            "package_dir": str(snapshot),
            "shipped_subdir": manifest.shipped_dir.relative_to(manifest.root).as_posix(),
        },
    )
    return version
