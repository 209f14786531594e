from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from grader.manifest import Manifest, load_manifest
from grader.validate import ValidationReport, validate
from portal.assessments.models import Assessment, AssessmentVersion
from portal.assessments.packages import package_hash, package_snapshot
from portal.assessments.runner import SandboxRunner, manifest_runtime
from sandbox import Runtime

BUILT_IN_PACKAGE = settings.BASE_DIR / "assessment_app"


class AssessmentInvalid(Exception):
    """Validation failed; ``report`` lists every check."""

    def __init__(self, report: ValidationReport):
        failed = ", ".join(f"#{c.ticket} {c.name}" if c.ticket else c.name for c in report.failed)
        super().__init__(f"{report.assessment}: {len(report.failed)} check(s) failed: {failed}")
        self.report = report


def _manifest_json(manifest: Manifest) -> dict:
    data = asdict(manifest)
    # Paths point into the source folder; the snapshot is where the version lives.
    data["root"] = "."
    for key in ("shipped_dir", "hidden_tests_dir", "reference_dir"):
        data[key] = Path(data[key]).relative_to(manifest.root).as_posix()
    return data


def assessment_runtime(*, manifest: Manifest) -> Runtime:
    """Build (once per requirements hash) or find the runtime the assessment's code runs with."""
    return manifest_runtime(manifest, runtimes_dir=settings.PORTAL_DATA_DIR / "runtimes")


def assessment_validate(*, package_dir: Path, progress=None) -> ValidationReport:
    """Prove the package by running it: the sandbox serves each state, the trusted grader tests it."""
    manifest = load_manifest(package_dir)
    runner = SandboxRunner(manifest=manifest, runtime=assessment_runtime(manifest=manifest))
    return validate(package_dir, runner=runner, jobs=2, progress=progress)


def _report_json(report: ValidationReport) -> dict:
    return {
        "ok": report.ok,
        "checks": [
            {"name": c.name, "ok": c.ok, "ticket": c.ticket, "detail": c.detail, "notes": c.notes}
            for c in report.checks
        ],
        "timings": report.timings,
    }


def assessment_version_install(*, package_dir: Path, report: ValidationReport | None = None) -> AssessmentVersion:
    """Register the package at ``package_dir`` as a version (its content hash); idempotent.

    The package is copied into the data directory first, so later edits to the
    source folder never change what existing invites were created with.
    """
    source = Path(package_dir).resolve()
    manifest = load_manifest(source)
    content_hash = package_hash(source)
    snapshot = package_snapshot(source, settings.PORTAL_DATA_DIR / "assessments" / manifest.slug / content_hash)
    with transaction.atomic():
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
        if report is not None:
            version.validation = _report_json(report)
            version.validated_at = timezone.now()
            version.save(update_fields=["validation", "validated_at"])
    return version


def assessment_load(*, package_dir: Path, progress=None) -> AssessmentVersion:
    """Validate the package, then register it; raise AssessmentInvalid and register nothing if a check fails.

    A version already validated (same content hash) is not validated again.
    """
    source = Path(package_dir).resolve()
    manifest = load_manifest(source)
    existing = AssessmentVersion.objects.filter(
        assessment__slug=manifest.slug, content_hash=package_hash(source), validated_at__isnull=False
    ).first()
    if existing is not None and existing.validation.get("ok"):
        return existing
    # Validate the snapshot, not the source: what is proven is exactly what invites will use.
    snapshot = package_snapshot(source, settings.PORTAL_DATA_DIR / "assessments" / manifest.slug / package_hash(source))
    report = assessment_validate(package_dir=snapshot, progress=progress)
    if not report.ok:
        raise AssessmentInvalid(report)
    return assessment_version_install(package_dir=source, report=report)
