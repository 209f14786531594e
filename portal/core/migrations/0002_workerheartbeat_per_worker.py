# Heartbeats move from a beat task (one row per host, written by whichever worker took the
# task) to every worker reporting itself (one row per Celery node name).

import django.utils.timezone
from django.db import migrations, models


def name_existing_rows(apps, schema_editor):
    # Rows written by the old beat task: keep them under their host name, as stopped at their
    # last heartbeat, since nothing updates them any more. The status page drops them after a day.
    WorkerHeartbeat = apps.get_model("core", "WorkerHeartbeat")
    for row in WorkerHeartbeat.objects.all():
        row.name = row.hostname
        row.started_at = row.seen_at
        row.stopped_at = row.seen_at
        row.save(update_fields=["name", "started_at", "stopped_at"])


def forget_rows(apps, schema_editor):
    # Going back: several workers of one host would break the old unique host name, and
    # running workers write their row again within seconds.
    apps.get_model("core", "WorkerHeartbeat").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="workerheartbeat",
            name="hostname",
            field=models.CharField(help_text="The machine the worker runs on.", max_length=255),
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="name",
            field=models.CharField(max_length=255, null=True),
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="queues",
            field=models.JSONField(default=list),
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="concurrency",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="uid",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="username",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="started_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="stopped_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(name_existing_rows, forget_rows),
        migrations.AlterField(
            model_name="workerheartbeat",
            name="name",
            field=models.CharField(help_text="Celery node name, such as worker@host.", max_length=255, unique=True),
        ),
    ]
