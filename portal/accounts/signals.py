from django.contrib.contenttypes.models import ContentType

from portal.accounts.services import roles_sync


def sync_roles_after_migrate(sender, **kwargs) -> None:
    # Permissions are created by Django after migrations run, so the groups are
    # (re)built here rather than in a data migration, on every migrate. A flush
    # (as tests do) recreates content types, so the cached ids may be stale.
    ContentType.objects.clear_cache()
    roles_sync()
