"""Store each snapshot's place relative to the data directory, so the directory can move."""

from pathlib import PurePosixPath

from django.conf import settings
from django.db import migrations, models


def _relative(version) -> str:
    return f"assessments/{version.assessment.slug}/{version.content_hash}"


def to_relative(apps, schema_editor):
    AssessmentVersion = apps.get_model("assessments", "AssessmentVersion")
    for version in AssessmentVersion.objects.select_related("assessment"):
        if PurePosixPath(version.package_dir).is_absolute():
            # Snapshots have always been written to <data>/assessments/<slug>/<hash>.
            version.package_dir = _relative(version)
            version.save(update_fields=["package_dir"])


def to_absolute(apps, schema_editor):
    AssessmentVersion = apps.get_model("assessments", "AssessmentVersion")
    for version in AssessmentVersion.objects.all():
        if not PurePosixPath(version.package_dir).is_absolute():
            version.package_dir = str(settings.PORTAL_DATA_DIR / version.package_dir)
            version.save(update_fields=["package_dir"])


class Migration(migrations.Migration):
    dependencies = [("assessments", "0002_validation")]

    operations = [
        migrations.RunPython(to_relative, to_absolute),
        migrations.AlterField(
            model_name="assessmentversion",
            name="package_dir",
            field=models.CharField(
                help_text="Where the snapshot is, relative to the data directory (PORTAL_DATA_DIR).", max_length=500
            ),
        ),
    ]
