from django.contrib import admin

from portal.core.models import TaskAttempt, WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "pid", "seen_at")


@admin.register(TaskAttempt)
class TaskAttemptAdmin(admin.ModelAdmin):
    list_display = ("task", "key", "attempts", "first_started_at", "last_started_at")
    search_fields = ("task", "key")
