import fcntl
import functools
import io
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from grader.manifest import Manifest, load_manifest
from grader.validate import ValidationReport, validate
from portal.assessments.models import Assessment, AssessmentVersion
from portal.assessments.packages import package_changes, package_files, package_hash, package_snapshot
from portal.assessments.runner import SandboxRunner, manifest_runtime, manifest_runtime_key, manifest_services
from portal.core.archives import UnsafeArchive, extract_tar
from portal.core.datadir import cache_dir, data_dir, has_data_dir
from portal.core.workers import internal_url, worker_authorization
from sandbox import Runtime, Service

# The assessments that come with the portal: seed_demo loads them all; the first is the demo's.
BUILT_IN_PACKAGES = (settings.BASE_DIR / "assessment_app", settings.BASE_DIR / "assessment_orders")
BUILT_IN_PACKAGE = BUILT_IN_PACKAGES[0]
# A package a worker downloads is refused past this size (packages are small: code and tests).
MAX_PACKAGE_BYTES = 100 * 1024 * 1024
FETCH_TIMEOUT = 60

# Called with a line of text as each step of loading a package ends (a command prints it).
Progress = Callable[[str], None]


class PackageFetchError(RuntimeError):
    """A worker could not get an assessment version from the portal; the message says why."""


class AssessmentInvalid(Exception):
    """Validation failed; ``report`` lists every check."""

    def __init__(self, report: ValidationReport):
        failed = ", ".join(f"#{c.ticket} {c.name}" if c.ticket else c.name for c in report.failed)
        super().__init__(f"{report.assessment}: {len(report.failed)} check(s) failed: {failed}")
        self.report = report


class VersionLabelTaken(ValueError):
    """The package's version label is already loaded with other content; nothing was written."""


# How many files of each kind (changed, added, removed) a refusal names before it counts the rest.
CHANGES_NAMED = 8


def version_label_check(*, source: Path, manifest: Manifest, content_hash: str) -> None:
    """Refuse (VersionLabelTaken) a package whose content changed while its version label did not.

    A label names one content: recruiters, reviewers and authors say "1.0.0", and two packages
    behind one name could not be told apart. The same content again is no change (loading is
    idempotent); other content needs a new label. The refusal names the files that differ from
    the loaded version's snapshot when this host has it.
    """
    versions = AssessmentVersion.objects.filter(assessment__slug=manifest.slug)
    if versions.filter(content_hash=content_hash).exists():
        return
    taken = versions.filter(label=manifest.version).order_by("-created_at", "-id").first()
    if taken is None:
        return
    snapshot = version_snapshot(taken) if has_data_dir() else None
    if snapshot is not None and snapshot.is_dir():
        changes = package_changes(snapshot, source)
        differs = "; ".join(
            ", ".join(names[:CHANGES_NAMED])
            + (f" and {len(names) - CHANGES_NAMED} more" if len(names) > CHANGES_NAMED else "")
            + f" {kind}"
            for kind, names in changes.items()
        )
    else:
        differs = f"its content hash is {taken.short_hash}, this package's {content_hash[:12]}"
    raise VersionLabelTaken(
        f"version {manifest.version} of {manifest.slug} is already loaded with other content ({differs}); "
        "give the package a new version in assessment.toml"
    )


def _manifest_json(manifest: Manifest) -> dict:
    data = asdict(manifest)
    # Paths point into the source folder; the snapshot is where the version lives.
    data["root"] = "."
    for key in ("shipped_dir", "hidden_tests_dir", "reference_dir", "decoys_dir"):
        if data[key] is not None:
            data[key] = Path(data[key]).relative_to(manifest.root).as_posix()
    return data


def snapshot_relpath(*, slug: str, content_hash: str) -> str:
    """Where a version's snapshot lives inside the data directory (stored as is on the version)."""
    return f"assessments/{slug}/{content_hash}"


def version_snapshot(version: AssessmentVersion) -> Path:
    """The version's snapshot in this host's data directory (NoDataDirectory on a host without one)."""
    return data_dir() / version.package_dir


def version_shipped_dir(version: AssessmentVersion) -> Path:
    """The folder of the snapshot that candidates receive (their repository's starting point)."""
    return version_snapshot(version) / version.shipped_subdir


def version_package(version: AssessmentVersion) -> Path:
    """A folder holding exactly the version's package, on any host.

    The snapshot in the data directory where there is one; otherwise a copy fetched from the
    web server by content hash (with the worker credential), checked against that hash and
    kept in this host's cache.
    """
    if has_data_dir():
        local = version_snapshot(version)
        if local.is_dir():
            return local
    return package_fetch(content_hash=version.content_hash)


def package_archive(folder: Path) -> bytes:
    """The package in ``folder`` as a gzipped tar of exactly the files its content hash covers."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for relative in package_files(folder):
            tar.add(folder / relative, arcname=relative.as_posix(), recursive=False)
    return buffer.getvalue()


def package_fetch(*, content_hash: str) -> Path:
    """Download the package with this content hash into the cache once; verify it before use."""
    destination = cache_dir() / "assessments" / content_hash
    if destination.is_dir():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(destination.parent / f"{content_hash}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if destination.is_dir():  # another process fetched it while this one waited
            return destination
        data = _download(f"{internal_url()}/internal/assessments/{content_hash}.tar.gz")
        staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=destination.parent))
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                extract_tar(tar, staging)
            actual = package_hash(staging)
            if actual != content_hash:
                raise PackageFetchError(
                    f"the package fetched for version {content_hash[:12]} has content hash {actual[:12]}; refused"
                )
            staging.chmod(0o755)
            staging.rename(destination)
        except (tarfile.TarError, UnsafeArchive, OSError, ValueError) as exc:
            raise PackageFetchError(f"the package for version {content_hash[:12]} is unusable: {exc}") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return destination


def _download(url: str) -> bytes:
    # The portal's own http(s) URL (settings validate the scheme), never a candidate's.
    request = urllib.request.Request(url, headers={"Authorization": worker_authorization()})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            data = response.read(MAX_PACKAGE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise PackageFetchError(f"{url} answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PackageFetchError(f"{url} could not be reached: {exc}") from exc
    if len(data) > MAX_PACKAGE_BYTES:
        raise PackageFetchError(f"{url} sent more than {MAX_PACKAGE_BYTES // 1024 // 1024} MB; refused")
    return data


def version_manifest(version: AssessmentVersion) -> Manifest:
    """The version's manifest, read from its package on this host (fetched if need be).

    A version never changes (it is its content hash), so each is parsed once per process.
    """
    return _manifest(version.content_hash, str(version_package(version)))


@functools.lru_cache(maxsize=32)
def _manifest(content_hash: str, package_dir: str) -> Manifest:
    return load_manifest(Path(package_dir))


def assessment_runtime(*, manifest: Manifest, progress: Progress | None = None) -> Runtime:
    """Build (once per requirements hash, on this host) or find the runtime the assessment's code runs with.

    progress: told that the runtime was found, or when its build starts and how long it took. A
    build takes minutes (pip, or npm, downloads and installs the pinned requirements), too long to be silent.
    """
    runtimes_dir = cache_dir() / "runtimes"
    if progress is None:
        return manifest_runtime(manifest, runtimes_dir=runtimes_dir)
    # The requirements manifest_runtime builds from; a runtime's folder appears only once it is complete.
    key = manifest_runtime_key(manifest)
    if (runtimes_dir / key).is_dir():
        runtime = manifest_runtime(manifest, runtimes_dir=runtimes_dir)
        progress(f"Sandbox runtime found: {runtime.path}")
        return runtime
    if manifest.runtime_kind == "node":
        how = f"npm ci installs the package.json's dependencies of {manifest.requirements}"
    else:
        how = f"pip installs the package's {manifest.requirements} into a virtualenv"
    progress(f"Building the sandbox runtime ({how}; once per host, a few minutes)...")
    started = time.monotonic()
    runtime = manifest_runtime(manifest, runtimes_dir=runtimes_dir)
    progress(f"Sandbox runtime built in {time.monotonic() - started:.0f} s: {runtime.path}")
    return runtime


def assessment_services(*, manifest: Manifest, progress: Progress | None = None) -> tuple[Service, ...]:
    """The services the package declares ([services]), their template built once per host in the cache.

    progress: told when a template is to be found or built (initdb, once per host: seconds).
    """
    if not manifest.services:
        return ()
    if progress is not None:
        progress(f"Services beside the app: {', '.join(manifest.services)} (template built once per host)...")
    return manifest_services(manifest, services_dir=cache_dir() / "services")


def assessment_validate(
    *, package_dir: Path, progress: Progress | None = None, flake_runs: int | None = None
) -> ValidationReport:
    """Prove the package by running it: the sandbox serves each state, the trusted grader tests it.

    progress: told about the runtime, then given a line as each state of the project has been played.
    flake_runs: runs of the search for flaky tests; PORTAL_VALIDATION_FLAKE_RUNS, else the manifest's, if None.
    """
    say = progress or (lambda _line: None)
    manifest = load_manifest(package_dir)
    runner = SandboxRunner(
        manifest=manifest,
        runtime=assessment_runtime(manifest=manifest, progress=progress),
        services=assessment_services(manifest=manifest, progress=progress),
    )
    say("Validating: each state of the project is run in the sandbox and graded...")
    started = time.monotonic()
    if flake_runs is None:
        flake_runs = settings.PORTAL_VALIDATION_FLAKE_RUNS
    report = validate(package_dir, runner=runner, jobs=2, progress=progress, flake_runs=flake_runs)
    passed = sum(check.ok for check in report.checks)
    say(f"Validated in {time.monotonic() - started:.0f} s: {passed}/{len(report.checks)} checks passed.")
    return report


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
    relpath = snapshot_relpath(slug=manifest.slug, content_hash=content_hash)
    package_snapshot(source, data_dir() / relpath)
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
                "package_dir": relpath,
                "shipped_subdir": manifest.shipped_dir.relative_to(manifest.root).as_posix(),
            },
        )
        if report is not None:
            version.validation = _report_json(report)
            version.validated_at = timezone.now()
            version.save(update_fields=["validation", "validated_at"])
    return version


def assessment_load(*, package_dir: Path, progress: Progress | None = None) -> AssessmentVersion:
    """Validate the package, then register it; raise AssessmentInvalid and register nothing if a check fails.

    A version already validated (same content hash) is not validated again. Other content under a version
    label already loaded is refused first (VersionLabelTaken), before anything is written. progress: see
    assessment_validate.
    """
    source = Path(package_dir).resolve()
    manifest = load_manifest(source)
    content_hash = package_hash(source)
    version_label_check(source=source, manifest=manifest, content_hash=content_hash)
    # Written first, also for a version known already: the data directory must hold what invites use.
    snapshot = package_snapshot(source, data_dir() / snapshot_relpath(slug=manifest.slug, content_hash=content_hash))
    existing = AssessmentVersion.objects.filter(
        assessment__slug=manifest.slug, content_hash=content_hash, validated_at__isnull=False
    ).first()
    if existing is not None and existing.validation.get("ok"):
        return existing
    # Validate the snapshot, not the source: what is proven is exactly what invites will use.
    report = assessment_validate(package_dir=snapshot, progress=progress)
    if not report.ok:
        raise AssessmentInvalid(report)
    return assessment_version_register(source=source, manifest=manifest, content_hash=content_hash, report=report)


def assessment_version_register(
    *, source: Path, manifest: Manifest, content_hash: str, report: ValidationReport
) -> AssessmentVersion:
    """Install a validated package as a version, its label checked again under a lock on its assessment.

    A validation takes minutes: another load may have registered the same label with other content
    meanwhile. Loads of one assessment register one at a time (the assessment's row is locked), so
    the second of two such loads is refused (VersionLabelTaken), never both registered.
    """
    Assessment.objects.get_or_create(slug=manifest.slug, defaults={"title": manifest.title})
    with transaction.atomic():
        Assessment.objects.select_for_update().get(slug=manifest.slug)
        version_label_check(source=source, manifest=manifest, content_hash=content_hash)
        return assessment_version_install(package_dir=source, report=report)
